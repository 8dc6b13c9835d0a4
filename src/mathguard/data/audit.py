"""`audit_data`: the linear-algebra audit of a feature matrix, as one Report."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from mathguard.data.analysis import Analysis, analyse
from mathguard.data.findings import all_findings
from mathguard.data.plots import correlation_vif, scree
from mathguard.data.source import open_source
from mathguard.report import Report


def _metrics(a: Analysis) -> dict[str, Any]:
    p = len(a.names)
    m: dict[str, Any] = {
        "n_rows": a.n_seen,
        "n_rows_used": a.n,
        "n_cols": p,
        "rank": a.rank,
        "rank_raw": a.rank_raw,
        "condition_number": a.cond_raw,
        "condition_number_centered": a.cond_centred,
        "condition_number_standardized": a.cond_std,
        "condition_number_standardized_reduced": a.cond_std_reduced,
        "confirmed_by_qr": a.used_qr,
        "vif": {a.names[j]: float(a.vif[j]) for j in range(p)},
        "explained_variance_ratio": a.explained_variance_ratio,
        "explained_variance_ratio_standardized": a.explained_variance_ratio_std,
        **{f"components_{lvl}": k for lvl, k in a.components.items()},
        "dependencies": [str(r) for r in a.relations],
        "constant_columns": [a.names[j] for j in a.constant],
        "duplicate_columns": [[a.names[i], a.names[j]] for i, j in a.duplicates],
        "condition_indices": np.sort(a.belsley.indices),
        "condition_indices_raw": np.sort(a.belsley_raw_indices),
        "collinear_groups": [m for _, m in a.belsley.groups()],
    }
    if a.target_correlation is not None:
        m["target_correlation"] = {a.names[j]: float(a.target_correlation[j]) for j in range(p)}
    return m


def audit_data(
    X: Any,
    y: Any = None,
    *, feature_names: Sequence[str] | None = None,
    chunk_size: int | None = None,
    figures: bool = True,
) -> Report:
    """Audit a feature matrix for rank, conditioning, collinearity and data defects.

    ``X`` is a numpy array, pandas DataFrame, scipy.sparse matrix, or a path to a CSV or
    Parquet file (read chunk by chunk, so it may be larger than memory). ``y`` is the
    target: a column name (excluded from the features) or an array of row values; a
    numeric target adds per-feature correlations. ``chunk_size`` is rows per chunk
    (default ≈ 64 MiB of float64). ``figures=False`` skips the plots (pure numbers).

    The data are streamed once in float64 (twice when the condition number is large
    enough that the QR factor must confirm it). Raises InputError on unusable input.
    """
    src = open_source(X, y=y, feature_names=feature_names, chunk_size=chunk_size)
    a = analyse(src)
    label = os.fspath(X) if isinstance(X, (str, os.PathLike)) else f"{src.kind} input"
    report = Report(
        title="Data audit (linear algebra)",
        findings=all_findings(a, src),
        metrics=_metrics(a),
        summary=f"{label}: {a.n_seen} rows × {len(a.names)} numeric columns; rank {a.rank}, "
        f"standardised κ {a.cond_std:.3g}, raw κ {a.cond_raw:.3g}.",
    )
    if figures:
        report.figures += [scree(a), correlation_vif(a)]
    return report
