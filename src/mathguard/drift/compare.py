"""`drift.compare`: is the current data (and its predictions) still like the reference?

How a feature is judged (every number is in ``Thresholds`` and can be overridden):

* **Is the change real?** KS (numeric) or chi-square (categorical), Holm-adjusted across
  all features so the family-wise false-alarm rate stays at ``alpha``. With small
  samples this is what protects against noise.
* **Is it big enough to matter?** With large samples every test is significant, so a
  feature also needs an effect: Wasserstein-1 ≥ ``min_wasserstein`` reference standard
  deviations (numeric, default 0.12), total variation ≥ ``min_tvd`` (categorical), or PSI ≥
  ``psi_moderate``.
* **How bad?** PSI on ten reference-quantile bins: ≥ 0.25 is major (HIGH), ≥ 0.1
  moderate (MEDIUM), below that a small but real shift (LOW). KL(current‖reference) and
  JS on the same bins are reported alongside; for ten bins KL ≈ PSI/2 for small shifts,
  so KL 0.05–0.125 marks the same moderate band.

Predictions get the same treatment (predicted-class frequencies, prediction entropy),
and a classifier trained to tell reference rows from current rows measures drift in
the joint distribution (``domain.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from typing import Any, Sequence

import numpy as np

from mathguard.drift.accumulators import CategoricalFeature, NumericFeature
from mathguard.drift.domain import DomainAUC, domain_auc
from mathguard.drift.measures import FeatureDrift, categorical_drift, numeric_drift
from mathguard.drift.profile import Profile, profile, stream_profile
from mathguard.drift.sketch import MAX_LEVEL
from mathguard.errors import InputError
from mathguard.evaluation import holm
from mathguard.report import Finding, Report, Severity
from mathguard.params import COUNT, INT_SEED, Int, NON_NEGATIVE, OPEN_UNIT, POSITIVE, UNIT, declare, declare_fields

VERDICTS = {None: "no drift", Severity.INFO: "no drift", Severity.LOW: "minor drift", Severity.MEDIUM: "moderate drift",
            Severity.HIGH: "major drift", Severity.CRITICAL: "major drift"}


@declare_fields(alpha=OPEN_UNIT, psi_moderate=NON_NEGATIVE, psi_major=NON_NEGATIVE, min_wasserstein=NON_NEGATIVE,
                min_tvd=UNIT, bins=Int(2), top_categories=COUNT, missing_rate=UNIT, entropy_ratio=POSITIVE,
                min_auc=UNIT, auc_z=NON_NEGATIVE, max_feature_findings=COUNT, min_rows=Int(2))
@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of ``compare``; see the module docstring for how they combine."""

    alpha: float = 0.05
    psi_moderate: float = 0.1
    psi_major: float = 0.25
    min_wasserstein: float = 0.12  # at 0.1, 2 of 200 identical 2000-row, 6-feature seeds raised an alarm; at 0.12 none
    min_tvd: float = 0.05
    bins: int = 10
    top_categories: int = 20
    missing_rate: float = 0.02
    entropy_ratio: float = 1.5
    min_auc: float = 0.55
    auc_z: float = 4.0
    max_feature_findings: int = 25  # more drifted features than this are summed up in one finding
    min_rows: int = 30  # fewer rows on either side: quantile bins and tests mean nothing, the verdict says so

    def __post_init__(self) -> None:
        if self.psi_moderate > self.psi_major:
            raise InputError(f"psi_moderate ({self.psi_moderate}) must not exceed psi_major ({self.psi_major})")


def _drifted(d: FeatureDrift, t: Thresholds) -> bool:
    floor = t.min_wasserstein if d.kind == "numeric" else t.min_tvd
    return d.p_adjusted < t.alpha and (d.effect >= floor or d.psi >= t.psi_moderate)


def _severity(d: FeatureDrift, t: Thresholds) -> Severity:
    if d.psi >= t.psi_major:
        return Severity.HIGH
    return Severity.MEDIUM if d.psi >= t.psi_moderate else Severity.LOW


def _measure(name: str, ref: Any, cur: Any, t: Thresholds) -> FeatureDrift | None:
    if ref.n == 0 or cur.n == 0:
        return None  # nothing to compare; the missing-rate check speaks for this feature
    if isinstance(ref, NumericFeature):
        return numeric_drift(name, ref, cur, t.bins)
    return categorical_drift(name, ref, cur, t.top_categories)


def _change(d: FeatureDrift) -> str:
    if d.kind == "numeric":
        return f"mean {d.extra['mean_reference']:.3g} → {d.extra['mean_current']:.3g}"
    diffs = np.array(d.current_share) - np.array(d.reference_share)
    i = int(np.argmax(np.abs(diffs)))
    return f"{d.bins[i]!r} {d.reference_share[i]:.0%} → {d.current_share[i]:.0%}"


def _feature_finding(d: FeatureDrift, t: Thresholds) -> Finding:
    what = "predicted-class distribution" if d.extra.get("is_prediction") else f"feature {d.name}"
    test = f"{d.test} p={d.p_value:.2g} (Holm {d.p_adjusted:.2g})"
    effect = (f"Wasserstein {d.effect:.2f} reference std" if d.kind == "numeric"
              else f"total variation {d.effect:.2f}")
    return Finding(
        id="info.prediction-drift" if d.extra.get("is_prediction") else "info.feature-drift",
        lens="info", severity=_severity(d, t),
        title=f"{what} drifted (PSI {d.psi:.2f}, {_change(d)})",
        detail=f"{test}; {effect}; KL(current‖reference) {d.kl:.3f}, JS {d.js:.3f} over {len(d.bins)} bins.",
        evidence=d.as_metrics(),
        fix="Check the upstream pipeline for this column (units, encoding, a new source); if the world changed, "
            "retrain on recent data and refresh the reference profile.")


def _unusable(feature: Any) -> int:
    """Rows without a usable value: missing, or (numeric) infinite."""
    return feature.n_missing + getattr(feature, "n_infinite", 0)


def _missing_finding(name: str, ref: Any, cur: Any, t: Thresholds) -> Finding | None:
    r = _unusable(ref) / max(ref.n_rows, 1)
    c = _unusable(cur) / max(cur.n_rows, 1)
    if abs(c - r) < t.missing_rate:
        return None
    what = "missing or infinite values" if isinstance(ref, NumericFeature) else "missing values"
    return Finding(
        id="info.missing-rate", lens="info", severity=Severity.HIGH if c - r >= 0.1 else Severity.MEDIUM,
        title=f"{what} in {name}: {r:.1%} → {c:.1%}",
        detail="A change in how often a value is missing usually means a broken join or a new data source.",
        evidence={"feature": name, "reference_rate": r, "current_rate": c},
        fix="Trace where the column is produced; impute only once the cause is known.")


def _entropy_finding(d: FeatureDrift, t: Thresholds) -> Finding | None:
    before, after = d.extra["mean_reference"], d.extra["mean_current"]
    ratio = after / before if before > 0 else math.inf
    if not (d.p_adjusted < t.alpha and (ratio >= t.entropy_ratio or ratio <= 1 / t.entropy_ratio)):
        return None
    word = ("doubled" if 1.9 <= ratio < 2.2 else f"rose {ratio:.1f}×") if ratio > 1 else f"fell to {ratio:.2f}×"
    return Finding(
        id="info.entropy-shift", lens="info", severity=Severity.HIGH if ratio >= 2 or ratio <= 0.5 else Severity.MEDIUM,
        title=f"prediction entropy {word} ({before:.3g} → {after:.3g} bits)",
        detail="The model is far less (or suspiciously more) certain on current inputs than on the reference: "
               "inputs it was not trained for, or a shortcut it now relies on.",
        evidence=d.as_metrics(),
        fix="Inspect the most uncertain current inputs (mg.info.select_uncertain) and label some for retraining.")


def _insufficient_finding(ref: Profile, cur: Profile, t: Thresholds) -> Finding | None:
    """HIGH when either side is too small to judge: silence there is not evidence of no drift."""
    if min(ref.n_rows, cur.n_rows) >= t.min_rows:
        return None
    return Finding(
        id="info.insufficient-data", lens="info", severity=Severity.HIGH,
        title=f"too few rows to judge drift ({ref.n_rows} reference, {cur.n_rows} current; need {t.min_rows})",
        detail=f"With fewer than {t.min_rows} rows on a side, {t.bins} quantile bins are mostly empty, PSI is "
               "dominated by smoothing and the tests have no power: neither 'drift' nor 'no drift' can be concluded.",
        evidence={"n_reference": ref.n_rows, "n_current": cur.n_rows, "min_rows": t.min_rows},
        fix="Compare a larger window of current data (or a larger reference); lower Thresholds.min_rows only "
            "if you accept a verdict on that little data.")


def _check_predictions(ref: Profile, cur: Profile) -> None:
    """Probabilities on the current side need a reference with predictions of the same number of classes."""
    if cur.n_classes is not None and ref.n_classes is None:
        raise InputError("probabilities were given for the current data, but the reference has no predictions; "
                         "profile the reference with its probabilities (reference_proba / --proba)")
    if cur.n_classes is not None and cur.n_classes != ref.n_classes:
        raise InputError(f"the current probabilities have {cur.n_classes} classes but the reference has "
                         f"{ref.n_classes}")


def _domain_finding(res: DomainAUC, t: Thresholds) -> Finding | None:
    if res.auc < t.min_auc or res.z < t.auc_z:
        return None
    sev = Severity.HIGH if res.auc >= 0.75 else Severity.MEDIUM if res.auc >= 0.6 else Severity.LOW
    return Finding(
        id="info.multivariate-drift", lens="info", severity=sev,
        title=f"a classifier tells current rows from reference rows (AUC {res.auc:.2f})",
        detail=f"Out-of-fold AUC {res.auc:.3f} on {res.n_reference} + {res.n_current} sampled rows; "
               f"{res.z:.1f} null standard errors above 0.5.",
        evidence={"auc": res.auc, "null_se": res.null_se, "z": res.z,
                  "n_reference": res.n_reference, "n_current": res.n_current},
        fix="The joint distribution moved; look at the drifted features first, then at feature interactions.")


def _as_profile(data: Any, proba: Any, like: Profile | None, categorical: Sequence[str],
                chunk_size: int | None, names: Sequence[str] | None) -> tuple[Profile, list[str]]:
    """The profile of one side, and the columns left out because the reference lacks them."""
    if isinstance(data, Profile):
        if proba is not None:
            raise InputError("proba cannot be given with a profile; profile the data with its proba instead")
        return data, [] if like is None else [c for c in data.features if c not in like.features]
    if like is None:
        return profile(data, proba, categorical=categorical, chunk_size=chunk_size, feature_names=names), []
    from mathguard.drift.frames import iter_frames

    dask = type(data).__module__.startswith("dask.")
    if dask:  # a Dask DataFrame: columns are known without reading
        columns, source = [str(c) for c in data.columns], data
    else:
        frames = iter_frames(data, chunk_size, names)
        first = next(frames, None)
        if first is None:
            raise InputError("the current data is empty: no rows to compare")
        columns, source = list(first.columns), chain([first], frames)
    present = [c for c in like.features if c in columns]
    if not present:
        raise InputError(f"the current data shares no column with the reference ({list(like.features)[:5]} ...)")
    cats = [c for c in present if like.features[c].kind == "categorical"]
    sketch = next((f.sketch for f in like.features.values() if isinstance(f, NumericFeature)), None)
    proba_cols = set(proba) if isinstance(proba, (list, tuple)) and all(isinstance(c, str) for c in proba) else set()
    extra = [c for c in columns if c not in like.features and c not in proba_cols]
    buckets = sketch.max_buckets if sketch else 4096
    if dask:  # partitions are profiled where they live
        return profile(source, proba, categorical=cats, columns=present, max_buckets=buckets,
                       sample_size=like.sample.size), extra
    # Sketches start at the reference's levels: compare reads them there, and they end at the same buckets.
    levels = {c: f.sketch.level for c, f in like.features.items() if isinstance(f, NumericFeature)}
    return stream_profile(source, proba, categorical=cats, columns=present, max_buckets=buckets,
                          max_categories=CategoricalFeature.max_categories, sample_size=like.sample.size,
                          levels=levels, entropy_level=like.entropy.sketch.level if like.entropy else MAX_LEVEL), extra


@declare(random_state=INT_SEED)
def compare(reference: Any, current: Any, proba: Any = None, *, reference_proba: Any = None,
            categorical: Sequence[str] = (), feature_names: Sequence[str] | None = None,
            thresholds: Thresholds | None = None, multivariate: bool = True, chunk_size: int | None = None,
            random_state: int = 0) -> Report:
    """Drift of ``current`` against ``reference``, as a Report with a verdict.

    Either side may be a :class:`Profile` or data (array, DataFrame, Dask DataFrame,
    CSV/Parquet path, iterable of chunks); ``proba`` / ``reference_proba`` are the model's probabilities on
    the data sides; ``feature_names`` names the columns of array inputs. Reference
    columns absent from the current data are reported, extra current columns are
    ignored (and listed).
    """
    t = thresholds or Thresholds()
    m = _measure_all(reference, current, proba, reference_proba, categorical, chunk_size, feature_names, t,
                     multivariate, random_state)
    report = Report(title="Drift: current data against the reference")
    drifted, verdict = _judge(report, m, t)
    _render(report, m, drifted, verdict, t)
    return report


@dataclass
class _Measured:
    """Everything ``compare`` measured, before any judgement."""

    ref: Profile
    cur: Profile
    extra: list[str]  # current columns the reference lacks (ignored)
    absent: list[str]  # reference columns the current data lacks
    shared: list[str]
    features: list[FeatureDrift]  # one per shared feature with values on both sides
    pred: FeatureDrift | None
    ent: FeatureDrift | None
    domain: DomainAUC | None  # the reference-vs-current classifier (multivariate=True)


def _measure_all(reference: Any, current: Any, proba: Any, reference_proba: Any, categorical: Sequence[str],
                 chunk_size: int | None, feature_names: Sequence[str] | None, t: Thresholds, multivariate: bool,
                 random_state: int) -> _Measured:
    """Both sides as profiles, every feature and the predictions measured (Holm-adjusted as one family), and the
    multivariate classifier run."""
    ref, _ = _as_profile(reference, reference_proba, None, categorical, chunk_size, feature_names)
    cur, extra = _as_profile(current, proba, ref, categorical, chunk_size, feature_names)
    _check_predictions(ref, cur)
    absent = [c for c in ref.features if c not in cur.features]
    shared = [c for c in ref.features if c in cur.features]
    for name in shared:
        if ref.features[name].kind != cur.features[name].kind:
            raise InputError(f"column {name!r} is {ref.features[name].kind} in the reference but "
                             f"{cur.features[name].kind} in the current data")
    measured = [d for c in shared if (d := _measure(c, ref.features[c], cur.features[c], t)) is not None]
    pred = ent = None
    if ref.prediction is not None and cur.prediction is not None:
        pred = _measure("prediction", ref.prediction, cur.prediction, t)
        ent = _measure("prediction_entropy", ref.entropy, cur.entropy, t)
        for d in (pred, ent):
            if d is not None:
                d.extra["is_prediction"] = True
    family = measured + [d for d in (pred, ent) if d is not None]
    if family:
        for d, p_adj in zip(family, holm([d.p_value for d in family])):
            d.p_adjusted = float(p_adj)
    domain = None
    if multivariate and shared and len(ref.sample.rows) and len(cur.sample.rows):
        kinds = {c: ref.features[c].kind for c in shared}
        domain = domain_auc(ref.sample.rows[shared], cur.sample.rows[shared], kinds, random_state=random_state)
    return _Measured(ref, cur, extra, absent, shared, measured, pred, ent, domain)


def _judge(report: Report, m: _Measured, t: Thresholds) -> tuple[list[FeatureDrift], str]:
    """The findings, in report order, and the verdict: the drifted features (most first) and what else is wrong."""
    ref, cur, extra = m.ref, m.cur, m.extra
    for name in m.absent:
        report.add(Finding(id="info.missing-column", lens="info", severity=Severity.HIGH,
                           title=f"column {name} is missing from the current data",
                           detail="The model will see a default or fail on this feature.",
                           evidence={"feature": name}, fix="Restore the column upstream."))
    drifted = sorted((d for d in m.features if _drifted(d, t)), key=lambda d: -d.psi)
    for d in drifted[: t.max_feature_findings]:
        report.add(_feature_finding(d, t))
    if len(drifted) > t.max_feature_findings:
        rest = drifted[t.max_feature_findings:]
        report.add(Finding(
            id="info.feature-drift", lens="info", severity=max(_severity(d, t) for d in rest),
            title=f"{len(rest)} more features drifted (PSI {rest[-1].psi:.2f}–{rest[0].psi:.2f})",
            detail="Listed in the evidence and in the report's metrics; the features above drifted most.",
            evidence={"features": {d.name: d.psi for d in rest}},
            fix="When many features move together, look for one upstream cause (a new source, a unit change)."))
    for name in m.shared:
        if (f := _missing_finding(name, ref.features[name], cur.features[name], t)) is not None:
            report.add(f)
    if m.pred is not None and _drifted(m.pred, t):
        report.add(_feature_finding(m.pred, t))
    if m.ent is not None and (f := _entropy_finding(m.ent, t)) is not None:
        report.add(f)
    if ref.prediction is not None and cur.prediction is None:
        # As many extra columns as the reference has classes: most likely its probabilities, left unnamed.
        looks = ref.n_classes is not None and len(extra) == ref.n_classes
        report.add(Finding(
            id="info.prediction-drift-unchecked", lens="info", severity=Severity.MEDIUM if looks else Severity.INFO,
            title="prediction drift not checked: no probabilities for the current data"
                  + (f"; columns {', '.join(extra)} look like the model's {ref.n_classes} class probabilities"
                     if looks else ""),
            detail="The reference holds predictions; the current data were compared on their features only.",
            evidence={"unused_columns": extra, "n_classes": ref.n_classes},
            fix=f"Name them: proba={extra!r} (CLI: --proba {','.join(extra)})." if looks
                else "Pass proba= (CLI: --proba) for the current rows."))
    if m.domain is not None and (f := _domain_finding(m.domain, t)) is not None:
        report.add(f)
    verdict = VERDICTS[report.worst]
    insufficient = _insufficient_finding(ref, cur, t)
    if insufficient is not None:
        verdict = "insufficient data" if verdict == "no drift" else verdict
        report.add(insufficient)
    return drifted, verdict


def _render(report: Report, m: _Measured, drifted: list[FeatureDrift], verdict: str, t: Thresholds) -> None:
    """The metrics, the summary line and the figures."""
    measured, pred, ent, domain = m.features, m.pred, m.ent, m.domain
    report.metrics = {
        "verdict": verdict, "n_reference": m.ref.n_rows, "n_current": m.cur.n_rows,
        "drifted_features": [d.name for d in drifted], "features_compared": len(measured),
        "missing_columns": m.absent, "extra_columns": m.extra,
        "psi_by_feature": {d.name: round(d.psi, 4) for d in sorted(measured, key=lambda d: -d.psi)},
        "features": {d.name: d.as_metrics() for d in measured},
        "prediction": None if pred is None else pred.as_metrics(),
        "prediction_entropy": None if ent is None else ent.as_metrics(),
        "domain_auc": None if domain is None else domain.auc,
        "thresholds": t.__dict__,
    }
    report.summary = (f"Verdict: {verdict}. {len(drifted)} of {len(measured)} features drifted"
                      + (f"; reference-vs-current classifier AUC {domain.auc:.2f}" if domain else "") + ".")
    from mathguard.drift.plots import distribution_figure, drift_figure

    if measured:
        report.figures.append(drift_figure(measured, {d.name for d in drifted}, t))
        if drifted:
            report.figures.append(distribution_figure(drifted[:4]))

