"""Per-feature drift measures between a reference and a current profile of one column.

Numeric columns are binned into ``bins`` quantile bins of the reference (PSI, KL, JS
read those bins; an end bin is open, so values beyond the reference range land in it)
and tested with Kolmogorov–Smirnov; Wasserstein-1 is measured in units of the
reference standard deviation. Both sketches are first brought to their common bucket
resolution, so the two distributions are always compared bucket for bucket.
Categorical columns use the reference's most frequent values plus one "other" bin for
everything else (including values never seen in the reference), a chi-square test, and
the total variation distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mathguard.drift.accumulators import CategoricalFeature, NumericFeature
from mathguard.drift.sketch import LogSketch, bucket_edges
from mathguard.drift.twosample import chi_square, ks_test, wasserstein
from mathguard.info.divergence import js, kl, psi

OTHER = "(other)"


@dataclass
class FeatureDrift:
    """The numbers behind one feature's verdict; ``p_adjusted`` is filled in across features (Holm)."""

    name: str
    kind: str
    test: str
    statistic: float
    p_value: float
    psi: float
    kl: float
    js: float
    effect: float  # Wasserstein-1 / reference std (numeric) or total variation distance (categorical)
    n_reference: int
    n_current: int
    bins: list[str]
    reference_share: list[float]
    current_share: list[float]
    extra: dict[str, Any] = field(default_factory=dict)
    p_adjusted: float = float("nan")

    def as_metrics(self) -> dict[str, Any]:
        return {"kind": self.kind, "test": self.test, "statistic": self.statistic, "p_value": self.p_value,
                "p_adjusted": self.p_adjusted, "psi": self.psi, "kl": self.kl, "js": self.js,
                "effect": self.effect, "n_reference": self.n_reference, "n_current": self.n_current, **self.extra}


def _divergences(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float, float]:
    """PSI and KL(current‖reference), both with PSI's 1e-4 per-bin smoothing, and JS (finite unsmoothed)."""
    return float(psi(ref, cur)), float(kl(cur, ref, smoothing=1e-4)), float(js(ref, cur))


def _constant_bins(ref: LogSketch, cur: LogSketch) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A constant reference has one quantile bin; below / at / above its value keeps the current spread visible."""
    key = ref.keys[0]
    cur_bins = np.array([cur.counts[cur.keys < key].sum(), cur.counts[cur.keys == key].sum(),
                         cur.counts[cur.keys > key].sum()], dtype=np.float64)
    value = f"{ref.midpoints()[0]:.3g}"
    return np.array([0.0, float(ref.n), 0.0]), cur_bins, [f"<{value}", f"={value}", f">{value}"]


def _quantile_bins(ref: LogSketch, cur: LogSketch, bins: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Counts of both sketches in the reference's quantile bins, built from whole buckets."""
    if len(ref.keys) == 1:
        return _constant_bins(ref, cur)
    before = np.cumsum(ref.counts) - ref.counts
    group = np.minimum((bins * before) // max(ref.n, 1), bins - 1)
    starts = np.flatnonzero(np.diff(group, prepend=-1))  # first bucket of each non-empty bin
    cuts = ref.keys[starts]
    ref_bins = np.add.reduceat(ref.counts, starts)
    where = np.clip(np.searchsorted(cuts, cur.keys, side="right") - 1, 0, len(cuts) - 1)
    cur_bins = np.bincount(where, weights=cur.counts, minlength=len(cuts))
    edges = [f"{e:.3g}" for e in bucket_edges(cuts, ref.level)[0][1:]]
    labels = ([f"<{edges[0]}"] + [f"[{a}, {b})" for a, b in zip(edges, edges[1:])] + [f"≥{edges[-1]}"]
              if edges else ["all"])
    return ref_bins.astype(np.float64), cur_bins.astype(np.float64), labels


def numeric_drift(name: str, ref: NumericFeature, cur: NumericFeature, bins: int) -> FeatureDrift:
    level = min(ref.sketch.level, cur.sketch.level)
    rs, cs = ref.sketch.at_level(level), cur.sketch.at_level(level)
    ref_bins, cur_bins, labels = _quantile_bins(rs, cs, bins)
    ks = ks_test(rs.midpoints(), cs.midpoints(), rs.counts, cs.counts)
    w1 = wasserstein(rs.midpoints(), cs.midpoints(), rs.counts, cs.counts)
    # A constant reference has no spread to measure in; its own magnitude (or 1) stands in.
    scale = ref.std if ref.std > 0 else max(abs(ref.mean), 1.0)
    p, k, j = _divergences(ref_bins, cur_bins)
    return FeatureDrift(name, "numeric", "ks", ks.statistic, ks.p_value, p, k, j, w1 / scale, ref.n, cur.n, labels,
                        (ref_bins / ref_bins.sum()).tolist(), (cur_bins / cur_bins.sum()).tolist(),
                        {"wasserstein": w1, "mean_reference": ref.mean, "mean_current": cur.mean,
                         "std_reference": ref.std, "std_current": cur.std})


def categorical_drift(name: str, ref: CategoricalFeature, cur: CategoricalFeature, top: int) -> FeatureDrift:
    ranked = sorted(ref.counts, key=lambda c: (-ref.counts[c], c))[:top]
    ref_bins = np.array([ref.counts[c] for c in ranked] + [ref.n - sum(ref.counts[c] for c in ranked)], float)
    cur_known = [cur.counts.get(c, 0) for c in ranked]
    cur_bins = np.array(cur_known + [cur.n - sum(cur_known)], float)
    labels = ranked + [OTHER]
    if ref_bins[-1] == 0 and cur_bins[-1] == 0:  # no "other" mass on either side: drop the empty bin
        ref_bins, cur_bins, labels = ref_bins[:-1], cur_bins[:-1], labels[:-1]
    test = chi_square(ref_bins, cur_bins)
    rp, cp = ref_bins / ref_bins.sum(), cur_bins / cur_bins.sum()
    p, k, j = _divergences(ref_bins, cur_bins)
    unseen = sum(v for c, v in cur.counts.items() if c not in ref.counts) if not ref.truncated else 0
    return FeatureDrift(name, "categorical", "chi-square", test.statistic, test.p_value, p, k, j,
                        float(0.5 * np.abs(rp - cp).sum()), ref.n, cur.n, labels, rp.tolist(), cp.tolist(),
                        {"unseen_share": unseen / max(cur.n, 1)})
