"""The numbers of the linear-algebra audit, computed from streamed moments (and R when needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mathguard.data.collinearity import (
    Belsley,
    Relation,
    belsley,
    components_for,
    explained_variance,
    null_space,
    pivots,
    relations,
    vif,
)
from mathguard.data.cross import Cross, condition, rank_tolerance
from mathguard.data.moments import Moments
from mathguard.data.source import Source
from mathguard.data.tsqr import block_r, stack_r, streaming_r
from mathguard.errors import InputError
from mathguard.partitioned import map_partitions

#: Gram-route condition numbers at or above this are re-derived from a streamed QR factor:
#: the Gram matrix's smallest singular values then carry a relative error ≳ eps·κ² ≈ 1e-6.
QR_TRIGGER = 1e5
#: Beyond this many independent dependencies (typically p ≫ n) equations stop being readable;
#: only their number is reported.
MAX_RELATIONS = 100


@dataclass
class Analysis:
    """Everything the findings, metrics and figures are made from."""

    names: list[str]
    n_seen: int
    n: int
    mean: np.ndarray
    sd: np.ndarray
    n_nan: np.ndarray
    n_inf: np.ndarray
    constant: list[int]
    duplicates: list[tuple[int, int]]
    active: list[int]
    rank: int
    rank_raw: int
    cond_raw: float
    cond_centred: float
    cond_std: float
    cond_std_reduced: float
    cond_raw_reduced: float
    gram_cond_std: float
    used_qr: bool
    vif: np.ndarray
    relations: list[Relation]
    n_dependencies: int
    dummy_traps: list[Relation]
    belsley: Belsley
    belsley_raw_indices: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    explained_variance_ratio_std: np.ndarray
    correlation: np.ndarray
    target_correlation: np.ndarray | None = None
    components: dict[int, int] = field(default_factory=dict)


def _block_moments(block: np.ndarray) -> Moments:
    mom = Moments(block.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing squares are refused by _validate
        mom.update(block)
    return mom


def _dask_moments(src: Source) -> Moments:
    """Moments of each partition where it lives, merged on the driver with Chan's update."""
    parts = map_partitions(lambda part: _block_moments(src.block(part)), src.partitions)
    mom = parts[0]
    for other in parts[1:]:
        mom.combine(other)
    if mom.n_seen == 0:
        raise InputError("X is empty: it has no rows")
    return mom


def _dask_r(src: Source, mean: np.ndarray, p: int) -> np.ndarray:
    """The tall-skinny QR over partitions: each partition's R, then the R of the stacked Rs."""
    return stack_r(map_partitions(lambda part: block_r(src.block(part)[:, :p], mean), src.partitions))


def _stream_moments(src: Source) -> Moments:
    if src.partitions is not None:
        return _dask_moments(src)
    mom: Moments | None = None
    for chunk in src.chunks():
        if mom is None:
            mom = Moments(chunk.shape[1])
        with np.errstate(over="ignore", invalid="ignore"):  # overflowing squares are refused by _validate
            mom.update(chunk)
    if mom is None or mom.n_seen == 0:
        raise InputError("X is empty: it has no rows")
    return mom


def _validate(mom: Moments, names: list[str]) -> None:
    if mom.n_seen == 1:
        raise InputError("X has a single row; the audit needs at least 2 rows")
    all_nan = [names[j] for j in np.flatnonzero(mom.n_nan[: len(names)] == mom.n_seen)]
    if all_nan:
        raise InputError(f"column(s) {all_nan[:5]} are entirely NaN; drop them before auditing")
    if mom.n < 2:
        raise InputError(f"only {mom.n} of {mom.n_seen} rows are free of NaN/Inf; need at least 2")
    huge = [names[j] for j in np.flatnonzero(~np.isfinite(np.diag(mom.m2))[: len(names)])]
    if huge or not np.isfinite(mom.m2).all():
        raise InputError(f"column(s) {huge[:5]} are too large for float64 cross-products (squares overflow "
                         "beyond ~1e308); rescale the data")


def _constant_and_duplicates(mean: np.ndarray, m2: np.ndarray) -> tuple[list[int], list[tuple[int, int]]]:
    """Constant columns (zero variance) and pairs of identical columns (x_j = x_i on every row).

    Identical ⇔ equal means and var(x_i − x_j) = M2_ii + M2_jj − 2·M2_ij = 0, read off the
    p×p moments without another pass.
    """
    d = np.diag(m2)
    sd = np.sqrt(np.clip(d, 0, None))
    const = np.flatnonzero((d <= 0) | (sd <= 1e-12 * np.abs(mean)))
    live = np.setdiff1d(np.arange(mean.size), const)
    diff = d[live, None] + d[None, live] - 2 * m2[np.ix_(live, live)]
    scale = np.maximum(d[live, None], d[None, live])
    same_mean = np.abs(mean[live, None] - mean[None, live]) <= 1e-12 * (
        np.abs(mean[live, None]) + np.abs(mean[None, live]) + np.sqrt(scale))
    hit = np.triu((np.abs(diff) <= 1e-10 * scale) & same_mean, k=1)
    dup_of: dict[int, int] = {}
    pairs = []
    for a, b in zip(*np.nonzero(hit)):
        i, j = int(live[a]), int(live[b])
        if j not in dup_of and i not in dup_of:
            dup_of[j] = i
            pairs.append((i, j))
    return [int(c) for c in const], pairs


def _is_binary(j: int, mean: np.ndarray, m2: np.ndarray, n: int) -> bool:
    """A column lies in {0, 1} iff E[x²] = E[x] (given values in [0, 1]); read from the moments."""
    ex2 = m2[j, j] / n + mean[j] ** 2
    return 0 <= mean[j] <= 1 and abs(ex2 - mean[j]) <= 1e-9


def _dummy_traps(rels: list[Relation], index: dict[str, int], mean: np.ndarray, m2: np.ndarray,
                 n: int) -> list[Relation]:
    """Relations of the form d_k = 1 − Σ d_j over 0/1 columns: a full set of one-hot dummies."""
    out = []
    for rel in rels:
        coefs = [c for _, c in rel.terms]
        if (rel.terms and np.allclose(coefs, -1.0, atol=1e-8) and abs(rel.constant - 1.0) <= 1e-8
                and all(_is_binary(index[c], mean, m2, n) for c in rel.columns)):
            out.append(rel)
    return out


def _selector(p: int, cols: list[int], weights: np.ndarray | None = None) -> np.ndarray:
    """Column transform of Z = [1, X − mean] picking centred feature columns (optionally scaled)."""
    w = np.zeros((p + 1, len(cols)))
    w[np.asarray(cols, dtype=int) + 1, np.arange(len(cols))] = 1.0 if weights is None else weights
    return w


def _spectra(base: Cross, p: int, mean: np.ndarray, sd: np.ndarray, active: list[int]) -> dict[str, Any]:
    """Singular values of the raw, centred and standardised (active) matrices."""
    raw_w = np.vstack([mean[None, :], np.eye(p)])
    return {"raw": base.transform(raw_w).singular_values(),
           "centred": base.transform(_selector(p, list(range(p)))).singular_values(),
           "std": base.transform(_selector(p, active, 1.0 / sd[active])).svd()}


def _belsley(base: Cross, p: int, n: int, mean: np.ndarray, m2: np.ndarray, cols: list[int],
             names: list[str]) -> tuple[Belsley, np.ndarray]:
    """Belsley diagnostics of [1, X_cols] scaled to unit column length, and the unscaled indices."""
    w = np.zeros((p + 1, len(cols) + 1))
    w[0, 0] = 1.0
    for i, j in enumerate(cols):
        w[0, i + 1] = mean[j]
        w[j + 1, i + 1] = 1.0
    cross = base.transform(w)
    s_raw = cross.singular_values()
    norms = np.sqrt(np.concatenate([[n], np.diag(m2)[cols] + n * mean[cols] ** 2]))
    s, v = cross.scale(1.0 / norms).svd()
    with np.errstate(divide="ignore"):
        raw_idx = s_raw[0] / s_raw
    return belsley(s, v, ["const", *(names[j] for j in cols)]), raw_idx


def analyse(src: Source) -> Analysis:
    """Stream the source once (twice when κ needs the QR confirmation) and derive every number."""
    mom = _stream_moments(src)
    names = src.names
    p = len(names)
    _validate(mom, names)
    n = mom.n
    mean, m2 = mom.mean[:p].copy(), mom.m2[:p, :p].copy()
    sd = np.sqrt(np.clip(np.diag(m2), 0, None) / (n - 1))
    constant, duplicates = _constant_and_duplicates(mean, m2)
    dropped = set(constant) | {j for _, j in duplicates}
    active = [j for j in range(p) if j not in dropped]
    if not active:
        raise InputError(f"all {p} columns are constant (or so small that their squares underflow float64): "
                         "nothing to audit")

    gram = np.zeros((p + 1, p + 1))
    gram[0, 0], gram[1:, 1:] = n, m2
    base = Cross(gram=gram)
    spec = _spectra(base, p, mean, sd, active)
    gram_cond_std = condition(spec["std"][0], rank_tolerance(spec["std"][0][0], n, p, False))
    gram_cond_raw = condition(spec["raw"], rank_tolerance(spec["raw"][0], n, p, False))
    used_qr = max(gram_cond_std, gram_cond_raw) >= QR_TRIGGER
    if used_qr:
        r = _dask_r(src, mean, p) if src.partitions is not None else streaming_r((c[:, :p] for c in src.chunks()),
                                                                                 mean)
        base = Cross(factor=r)
        spec = _spectra(base, p, mean, sd, active)

    def tol(s: np.ndarray) -> float:
        return rank_tolerance(s[0] if s.size else 0.0, n, p, base.accurate)

    s_raw, s_cen, (s_std, v_std) = spec["raw"], spec["centred"], spec["std"]
    t_std = tol(s_std)
    active_names = [names[j] for j in active]
    null = null_space(s_std, v_std, t_std)
    piv = pivots(null)
    rels = relations(null, piv, active_names, sd[active], mean[active]) if len(piv) <= MAX_RELATIONS else []
    index = {name: i for i, name in enumerate(names)}
    solved = {active[i] for i in piv}
    reduced = [j for j in active if j not in solved]
    s_red, s_raw_red = s_std, s_raw  # reused when nothing was dropped (p eigen-solves are the cost for large p)
    if reduced and len(reduced) < len(active):
        s_red = base.transform(_selector(p, reduced, 1.0 / sd[reduced])).singular_values()
    if reduced and len(reduced) < p:
        s_raw_red = base.transform(np.vstack([mean[None, reduced], np.eye(p)[:, reduced]])).singular_values()
    bel, bel_raw = _belsley(base, p, n, mean, m2, reduced, names)

    vifs = np.full(p, np.inf)
    vifs[active] = vif(s_std, v_std, t_std, n)
    var, ratio = explained_variance(s_cen, n)
    _, ratio_std = explained_variance(s_std, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = m2 / np.outer(sd, sd) / (n - 1)
    tcorr = None
    if src.target_numeric:
        t_sd = np.sqrt(mom.m2[p, p])
        with np.errstate(divide="ignore", invalid="ignore"):
            tcorr = mom.m2[:p, p] / (np.sqrt(np.diag(m2)) * t_sd)
    return Analysis(
        names=names, n_seen=mom.n_seen, n=n, mean=mean, sd=sd, n_nan=mom.n_nan[:p], n_inf=mom.n_inf[:p],
        constant=constant, duplicates=duplicates, active=active,
        rank=int((s_std > t_std).sum()), rank_raw=int((s_raw > tol(s_raw)).sum()),
        cond_raw=condition(s_raw, tol(s_raw)), cond_centred=condition(s_cen, tol(s_cen)),
        cond_std=condition(s_std, t_std), cond_std_reduced=condition(s_red, tol(s_red)) if reduced else 1.0,
        cond_raw_reduced=condition(s_raw_red, tol(s_raw_red)) if reduced else 1.0,
        gram_cond_std=gram_cond_std, used_qr=used_qr, vif=vifs, relations=rels, n_dependencies=null.shape[1],
        dummy_traps=_dummy_traps(rels, index, mean, m2, n), belsley=bel, belsley_raw_indices=bel_raw,
        explained_variance=var, explained_variance_ratio=ratio, explained_variance_ratio_std=ratio_std,
        correlation=corr, target_correlation=tcorr,
        components={lvl: components_for(ratio, lvl / 100) for lvl in (90, 95, 99)},
    )
