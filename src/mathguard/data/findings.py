"""Turn an :class:`Analysis` into Findings with plain-language reasoning and a fix for each."""

from __future__ import annotations

import numpy as np

from mathguard.data.analysis import Analysis
from mathguard.data.source import Source
from mathguard.report import Finding, Severity

#: Thresholds on the condition index of the standardised matrix (Belsley, Kuh & Welsch):
#: below 30 coefficients are stable; 30–1000 moderate to strong; above 1000 severe.
COND_MODERATE, COND_SEVERE = 30.0, 1000.0
#: VIF above 10 (R² > 0.9 on the other columns) is the usual alarm; above 100, R² > 0.99.
VIF_HIGH, VIF_SEVERE = 10.0, 100.0
#: Columns whose standard deviations differ by this factor make raw-scale methods ill-posed.
SCALE_SPREAD = 1e3


def _f(id_: str, severity: Severity, title: str, detail: str, evidence: dict, fix: str) -> Finding:
    return Finding(id=f"linalg.{id_}", lens="linalg", severity=severity, title=title, detail=detail,
                   evidence=evidence, fix=fix)


def _names(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def input_findings(a: Analysis, src: Source) -> list[Finding]:
    """Problems with the raw values: non-numeric, non-finite, constant and duplicate columns."""
    out = []
    if src.non_numeric:
        out.append(_f("non-numeric-columns", Severity.MEDIUM,
                      f"{len(src.non_numeric)} non-numeric column(s) left out of the audit",
                      f"Columns {_names(src.non_numeric)} are not numbers, so they take no part in rank, "
                      "conditioning or VIF.",
                      {"columns": src.non_numeric}, "Encode categorical columns (one-hot with drop_first, or "
                      "ordinal codes) or drop identifiers, then audit again."))
    bad = np.flatnonzero(a.n_nan + a.n_inf)
    if bad.size:
        cols = {a.names[j]: {"nan": int(a.n_nan[j]), "inf": int(a.n_inf[j])} for j in bad}
        out.append(_f("non-finite-values", Severity.HIGH,
                      f"NaN/Inf in {bad.size} column(s); {a.n_seen - a.n} of {a.n_seen} rows left out",
                      f"Columns {_names([a.names[j] for j in bad])} hold NaN or ±Inf. Most estimators fail or "
                      "silently drop these rows; the audit used only the complete rows.",
                      {"rows_dropped": a.n_seen - a.n, "columns": cols},
                      "Impute (median, or a model) or drop the affected rows/columns before training."))
    if a.constant:
        cols = [a.names[j] for j in a.constant]
        out.append(_f("constant-columns", Severity.MEDIUM, f"{len(cols)} constant column(s)",
                      f"Columns {_names(cols)} never vary: they carry no information and are exactly collinear "
                      "with the intercept (VIF = ∞).", {"columns": cols},
                      "Drop them (sklearn VarianceThreshold)."))
    if a.duplicates:
        pairs = [f"{a.names[j]} = {a.names[i]}" for i, j in a.duplicates]
        out.append(_f("duplicate-columns", Severity.HIGH, f"{len(pairs)} duplicated column(s)",
                      f"Identical on every row: {'; '.join(pairs[:8])}. A duplicate makes XᵀX singular; "
                      "the coefficient can be split arbitrarily between the copies.",
                      {"pairs": pairs}, "Drop the second copy of each pair."))
    return out


def dependence_findings(a: Analysis) -> list[Finding]:
    """Exact linear dependence, the dummy-variable trap, and more columns than rows."""
    out = []
    p = len(a.names)
    if p >= a.n:
        out.append(_f("more-columns-than-rows", Severity.HIGH, f"p = {p} columns ≥ n = {a.n} rows",
                      f"With p ≥ n the centred matrix has rank ≤ n − 1 = {a.n - 1}, so at least "
                      f"{p - a.n + 1} direction(s) of the coefficients are not identified by the data at all.",
                      {"n_rows": a.n, "n_cols": p, "rank": a.rank},
                      "Collect more rows, select features, or use a regularised model (ridge, lasso, PCA first)."))
    traps = {str(r) for r in a.dummy_traps}
    if a.dummy_traps:
        rel = a.dummy_traps[0]
        out.append(_f("dummy-variable-trap", Severity.HIGH, "One-hot dummies for every level (dummy trap)",
                      f"The 0/1 columns {_names(rel.columns)} sum to 1 on every row, duplicating the intercept: "
                      f"{rel}.", {"relations": sorted(traps)},
                      "Drop one level per categorical (pandas get_dummies(drop_first=True), "
                      "OneHotEncoder(drop='first')), or fit without an intercept."))
    other = [r for r in a.relations if str(r) not in traps]
    n_other = a.n_dependencies - len(a.dummy_traps)
    if n_other > 0:
        text = ("Dependencies found: " + "; ".join(str(r) for r in other[:6]) + "." if other else
                f"({n_other} independent dependencies are too many to list as equations.)")
        out.append(_f("exact-dependence", Severity.HIGH,
                      f"{n_other} exact linear dependenc{'y' if n_other == 1 else 'ies'} between columns",
                      f"Numerical rank of the centred matrix is {a.rank} of {len(a.active)} non-constant, "
                      f"non-duplicate columns. {text} Coefficients of these columns are not identifiable.",
                      {"rank": a.rank, "relations": [str(r) for r in other]},
                      "Drop the column on the left of each equation (it is computed from the others), "
                      "or combine the group into one feature."))
    return out


def conditioning_findings(a: Analysis) -> list[Finding]:
    """κ of the raw vs standardised matrix, to tell scale trouble from collinearity."""
    out = []
    k_std, k_raw = a.cond_std_reduced, a.cond_raw_reduced
    active_sd = a.sd[a.active] if a.active else np.ones(1)
    med = float(np.median(active_sd))
    off = [a.names[j] for j in a.active if a.sd[j] > SCALE_SPREAD * med or a.sd[j] < med / SCALE_SPREAD]
    ev = {"condition_number": a.cond_raw, "condition_number_without_exact_dependencies": k_raw, "condition_number_standardized": a.cond_std,
          "condition_number_standardized_without_exact_dependencies": k_std,
          "sd_max_over_min": float(active_sd.max() / active_sd.min()) if active_sd.min() > 0 else float("inf"),
          "confirmed_by_qr": a.used_qr}
    if off:
        out.append(_f("feature-scale", Severity.MEDIUM, f"Feature scales differ by ≥ {SCALE_SPREAD:.0e}×",
                      f"Columns {_names(off)} have a standard deviation ≥ {SCALE_SPREAD:.0f}× away from the median "
                      f"column's ({med:.3g}). The raw condition number is {k_raw:.3g} but the standardised one is "
                      f"{k_std:.3g}: {'most of' if k_raw > 10 * k_std else 'part of'} the ill-conditioning is "
                      "scale, which gradient descent, ridge/lasso penalties and distance-based models feel directly.",
                      {**ev, "columns": off}, "Standardise the features (StandardScaler) inside the model pipeline."))
    why = (f"The condition index of the standardised matrix (unit variance, exact dependencies removed) is "
           f"{k_std:.3g}; thresholds: < {COND_MODERATE:.0f} fine, {COND_MODERATE:.0f}–{COND_SEVERE:.0f} moderate to "
           f"strong, > {COND_SEVERE:.0f} severe collinearity. Standardising removes pure scale effects, so what "
           f"remains is collinearity (raw κ = {k_raw:.3g}).")
    if k_std >= COND_SEVERE:
        out.append(_f("collinearity", Severity.HIGH, f"Severe collinearity (standardised κ = {k_std:.3g})",
                      why + " Least-squares coefficients can change sign under tiny perturbations of the data.",
                      ev, "Drop or combine members of the collinear groups, or use ridge / PCA regression."))
    elif k_std >= COND_MODERATE:
        out.append(_f("collinearity", Severity.MEDIUM, f"Moderate collinearity (standardised κ = {k_std:.3g})",
                      why + " Coefficient standard errors are inflated.", ev,
                      "Consider ridge regularisation or dropping one member of each collinear group."))
    else:
        out.append(_f("conditioning", Severity.INFO, f"Well conditioned after standardising (κ = {k_std:.3g})",
                      why, ev, ""))
    return out


def vif_findings(a: Analysis) -> list[Finding]:
    finite = {a.names[j]: float(a.vif[j]) for j in range(len(a.names)) if np.isfinite(a.vif[j])}
    high = sorted(((v, k) for k, v in finite.items() if v >= VIF_HIGH), reverse=True)
    if not high:
        return []
    worst = high[0][0]
    sev = Severity.HIGH if worst >= VIF_SEVERE else Severity.MEDIUM
    shown = ", ".join(f"{k} ({v:.3g})" for v, k in high[:8])
    return [_f("high-vif", sev, f"{len(high)} column(s) with VIF ≥ {VIF_HIGH:.0f} (max {worst:.3g})",
               f"VIF_j = 1/(1 − R²_j) where R²_j regresses column j on all others; VIF {worst:.3g} means its "
               f"coefficient variance is {worst:.3g}× what it would be with uncorrelated features. Highest: {shown}.",
               {"vif": {k: v for v, k in high}}, "Drop or combine the highest-VIF columns one at a time, "
               "re-auditing after each, or regularise (ridge).")]


def belsley_findings(a: Analysis) -> list[Finding]:
    """Belsley groups; a group of the intercept with a single column only says that column sits far
    from zero relative to its spread (an offset, fixed by centring), so it is reported apart and low."""
    groups = a.belsley.groups()
    real = [(eta, m) for eta, m in groups if len([c for c in m if c != "const"]) >= 2]
    offset = [m[1] if m[0] == "const" else m[0] for eta, m in groups if (eta, m) not in real]
    out = []
    if real:
        text = "; ".join(f"η = {eta:.3g}: {{{', '.join(m)}}}" for eta, m in real[:6])
        out.append(_f("collinear-groups", Severity.HIGH if real[0][0] >= 100 else Severity.MEDIUM,
                      f"{len(real)} collinear group(s) (Belsley diagnostics)",
                      "Each group shares one near-dependency: a condition index η ≥ 30 of the unit-length-scaled "
                      f"[1, X] in which each member has ≥ 50 % of its coefficient variance. {text}.",
                      {"groups": [{"condition_index": eta, "columns": m} for eta, m in real]},
                      "Keep one representative per group, or replace the group by its first principal component."))
    if offset:
        out.append(_f("offset-columns", Severity.LOW, f"{len(offset)} column(s) nearly collinear with the intercept",
                      f"Columns {_names(offset)} vary little around a large mean, so with an intercept their "
                      "coefficient and the intercept are poorly separated (Belsley η ≥ 30 shared with 'const').",
                      {"columns": offset}, "Centre these columns (subtract the mean) before fitting."))
    return out


def spectrum_findings(a: Analysis, src: Source) -> list[Finding]:
    """Informational: PCA spectrum, sparse storage, and how conditioning was computed."""
    p = len(a.names)
    c = a.components
    out = [_f("pca-spectrum", Severity.INFO,
              f"{c[90]}/{c[95]}/{c[99]} of {p} principal components explain 90/95/99 % of the variance",
              "From the SVD of the centred (unscaled) matrix, as sklearn's PCA. Few components for many columns "
              "means the data live near a low-dimensional subspace.",
              {"components_90": c[90], "components_95": c[95], "components_99": c[99]}, "")]
    if src.sparse and src.nnz is not None:
        dense = a.n_seen * p * 8
        out.append(_f("sparse-input", Severity.INFO, f"Sparse input audited without densifying "
                      f"(density {src.nnz / max(a.n_seen * p, 1):.3g})",
                      f"{src.nnz} stored values; CSR takes {src.stored_bytes} bytes vs {dense} bytes dense.",
                      {"density": src.nnz / max(a.n_seen * p, 1), "bytes_sparse": src.stored_bytes,
                       "bytes_dense": dense, "bytes_saved": dense - (src.stored_bytes or 0)}, ""))
    if a.used_qr:
        out.append(_f("qr-confirmation", Severity.INFO, "Rank and conditioning confirmed by tall-skinny QR",
                      f"The Gram matrix gave standardised κ ≈ {a.gram_cond_std:.3g}; since XᵀX squares κ, rank, κ, VIF "
                      "and Belsley indices were recomputed from a streamed R factor (Householder accuracy).",
                      {"gram_condition_number_standardized": a.gram_cond_std,
                       "qr_condition_number_standardized": a.cond_std}, ""))
    return out


def all_findings(a: Analysis, src: Source) -> list[Finding]:
    return [*input_findings(a, src), *dependence_findings(a), *conditioning_findings(a), *vif_findings(a),
            *belsley_findings(a), *spectrum_findings(a, src)]
