"""What each window carries besides its drift profile, all of it mergeable: prediction quality and linear algebra.

``Quality`` holds, for the window's events that came with probabilities, the count and the
summed prediction entropy (bits), the confusion matrix of the labelled ones (rows: true
class, columns: predicted) and their reliability bins (count, summed confidence, summed
hits, 15 equal-width bins as ``mg.evaluation.reliability`` draws them). Merging two windows
adds them (a confusion matrix grows to the larger class count). From them a summary reads
per-class precision/recall/F1, the ECE (``Reliability.ece``), accuracy and label drift
(``mg.info.psi``/``js`` of the label distribution against the reference's).

``Linalg`` holds ``mathguard.data.moments.Moments`` (count, shifted mean and centred
cross-product matrix, float64, merged with Chan's update) of the first ``max_features``
features, complete rows only; a window's standardised condition number, VIF and near
dependencies come from ``mathguard.data``'s own formulas (``Cross``, ``condition``,
``rank_tolerance``, ``vif``, ``relations``). Beyond ``max_features`` features the summary
says that it covers only the first ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mathguard.data.collinearity import null_space, pivots, relations, vif
from mathguard.data.cross import EPS, Cross, condition, rank_tolerance
from mathguard.data.findings import COND_MODERATE, VIF_HIGH
from mathguard.data.moments import Moments

N_BINS = 15
#: An exact dependency makes κ and VIF infinite; JSON and alert thresholds need a number, so they read 1/eps
#: (4.5e15), the largest condition number float64 arithmetic can tell from singular.
SINGULAR = float(1.0 / EPS)


def _finite(value: float) -> float:
    return SINGULAR if not math.isfinite(value) or value > SINGULAR else float(value)


# ----------------------------------------------------------------------------------------------- quality
@dataclass
class Quality:
    """Mergeable prediction quality of a window (events with probabilities; labelled ones among them)."""

    n_proba: int = 0
    entropy_sum: float = 0.0  # bits
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    bins: np.ndarray = field(default_factory=lambda: np.zeros((3, N_BINS)))  # count, confidence sum, hit sum

    @classmethod
    def of(cls, proba: np.ndarray | None, labels: np.ndarray) -> "Quality":
        """The quality of one set of events; ``labels`` holds -1 where an event came without its label."""
        from mathguard.evaluation import reliability
        from mathguard.info import entropy

        if proba is None or len(proba) == 0:
            return cls()
        k = proba.shape[1]
        out = cls(len(proba), float(np.sum(entropy(proba, base=2))), np.zeros((k, k), dtype=np.int64))
        known = labels >= 0
        if known.any():
            y, p = labels[known], proba[known]
            pred = p.argmax(axis=1)
            np.add.at(out.confusion, (y, pred), 1)
            rel = reliability(pred == y, p.max(axis=1), n_bins=N_BINS)
            out.bins = np.vstack([rel.count, rel.confidence * rel.count, rel.frequency * rel.count])
        return out

    def __add__(self, other: "Quality") -> "Quality":
        k = max(len(self.confusion), len(other.confusion))
        confusion = np.zeros((k, k), dtype=np.int64)
        for c in (self.confusion, other.confusion):
            confusion[: len(c), : len(c)] += c
        return Quality(self.n_proba + other.n_proba, self.entropy_sum + other.entropy_sum, confusion,
                       self.bins + other.bins)

    def to_dict(self) -> dict[str, Any]:
        return {"n_proba": self.n_proba, "entropy_sum": self.entropy_sum, "confusion": self.confusion.tolist(),
                "bins": self.bins.tolist()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any] | None) -> "Quality":
        if not doc:
            return cls()
        k = len(doc["confusion"])  # k × k; a window without probabilities stores the empty 0 × 0 matrix
        confusion = np.asarray(doc["confusion"], dtype=np.int64).reshape(k, k)
        return cls(int(doc["n_proba"]), float(doc["entropy_sum"]), confusion, np.asarray(doc["bins"], dtype=float))

    def summary(self, reference_labels: np.ndarray | None, reference_source: str) -> dict[str, Any]:
        """Per-class precision/recall/F1, confusion matrix, ECE and label drift (None where no labels came)."""
        from mathguard.evaluation.calibration import Reliability
        from mathguard.info import js, psi

        cm = self.confusion
        labeled = int(cm.sum())
        out: dict[str, Any] = {"with_proba": self.n_proba, "labeled": labeled}
        if not labeled:
            return {**out, "confusion": None, "per_class": None, "macro_f1": None, "ece": None, "label_psi": None,
                    "label_js": None}
        tp = np.diag(cm).astype(float)
        true_n, pred_n = cm.sum(axis=1).astype(float), cm.sum(axis=0).astype(float)
        per_class = []
        for c in range(len(cm)):
            precision = float(tp[c] / pred_n[c]) if pred_n[c] else None
            recall = float(tp[c] / true_n[c]) if true_n[c] else None
            f1 = float(2 * tp[c] / (true_n[c] + pred_n[c])) if true_n[c] + pred_n[c] else None
            per_class.append({"class": c, "support": int(true_n[c]), "predicted": int(pred_n[c]),
                              "precision": precision, "recall": recall, "f1": f1})
        f1s = [p["f1"] for p in per_class if p["support"]]
        count = self.bins[0]
        seen = count > 0
        rel = Reliability(np.linspace(0, 1, N_BINS + 1), count[seen], self.bins[1][seen] / count[seen],
                          self.bins[2][seen] / count[seen], "uniform")
        label_psi = label_js = None
        if reference_labels is not None and reference_labels.sum() > 0:
            k = max(len(reference_labels), len(cm))
            ref = np.zeros(k)
            ref[: len(reference_labels)] = reference_labels
            cur = np.zeros(k)
            cur[: len(cm)] = true_n
            label_psi = float(psi(ref / ref.sum(), cur / cur.sum()))
            label_js = float(js(ref / ref.sum(), cur / cur.sum(), base=2))
        return {**out, "confusion": cm.tolist(), "per_class": per_class,
                "macro_f1": float(np.mean([f for f in f1s if f is not None])) if f1s else None,
                "ece": float(rel.ece), "label_psi": label_psi, "label_js": label_js,
                "label_reference": reference_source if label_psi is not None else None}


# ----------------------------------------------------------------------------------------------- linear algebra
def moments_of(features: np.ndarray, p: int) -> Moments:
    """Moments of the first ``p`` columns (rows with a missing value left out, as the data audit does)."""
    mom = Moments(p)
    block = np.ascontiguousarray(features[:, :p], dtype=np.float64)
    if len(block):
        mom.update(block)
    return mom


def moments_to_dict(mom: Moments) -> dict[str, Any]:
    return {"p": mom.p, "n": mom.n, "n_seen": mom.n_seen, "shift": mom.shift.tolist(),
            "mean_shifted": mom.mean_shifted.tolist(), "m2": mom.m2.tolist(), "n_nan": mom.n_nan.tolist(),
            "n_inf": mom.n_inf.tolist()}


def moments_from_dict(doc: dict[str, Any] | None) -> Moments | None:
    if not doc:
        return None
    p = int(doc["p"])
    mom = Moments(p, n=int(doc["n"]), n_seen=int(doc["n_seen"]))
    mom.shift = np.asarray(doc["shift"], dtype=float)
    mom.mean_shifted = np.asarray(doc["mean_shifted"], dtype=float)
    mom.m2 = np.asarray(doc["m2"], dtype=float).reshape(p, p)
    mom.n_nan = np.asarray(doc["n_nan"], dtype=np.int64)
    mom.n_inf = np.asarray(doc["n_inf"], dtype=np.int64)
    return mom


def merge_moments(a: Moments | None, b: Moments | None) -> Moments | None:
    if a is None or b is None:
        return a if b is None else b
    out = moments_from_dict(moments_to_dict(a))
    assert out is not None
    return out.combine(b)


def linalg(mom: Moments | None, names: list[str], n_features: int) -> dict[str, Any]:
    """Standardised condition number, VIFs and near dependencies of the complete rows behind ``mom``.

    A near dependency is a direction whose condition index σ_max/σ_k reaches 30 (Belsley's threshold,
    ``mathguard.data``'s COND_MODERATE); each is written as an equation solved for one column. Constant
    columns are left out (and named)."""
    covered = [] if mom is None else names[: mom.p]
    out: dict[str, Any] = {"features": len(covered), "of": n_features,
                           "note": None if len(covered) == n_features else
                           f"covers the first {len(covered)} of {n_features} features (the server's "
                           "--max-linalg-features)"}
    if mom is None or mom.n < mom.p + 2:
        return {**out, "rows": 0 if mom is None else mom.n, "condition_number": None, "vif_max": None,
                "vif_max_feature": None, "near_dependencies": None, "relations": [], "constant": [],
                "status": "too few complete rows for the cross-product matrix"}
    n, mean, m2 = mom.n, mom.mean, mom.m2
    d = np.diag(m2).copy()
    sd = np.sqrt(np.clip(d, 0, None) / (n - 1))
    constant = (d <= 0) | (sd <= 1e-12 * np.abs(mean))
    active = np.flatnonzero(~constant)
    base = {**out, "rows": n, "constant": [covered[j] for j in np.flatnonzero(constant)]}
    if active.size == 0:
        return {**base, "condition_number": None, "vif_max": None, "vif_max_feature": None,
                "near_dependencies": 0, "relations": [], "status": "every covered feature is constant"}
    cross = Cross(gram=m2[np.ix_(active, active)]).scale(1.0 / sd[active])
    s, v = cross.svd()
    tol = rank_tolerance(s[0], n, active.size, False)
    kappa = condition(s, tol)
    vifs = vif(s, v, tol, n)
    with np.errstate(divide="ignore"):
        index = np.where(s > 0, s[0] / s, np.inf)
    near = index >= COND_MODERATE
    rels = []
    if 0 < near.sum() <= 10:
        basis = v[:, near] if near.any() else null_space(s, v, tol)
        rels = [str(r) for r in relations(basis, pivots(basis), [covered[j] for j in active], sd[active],
                                          mean[active])]
    worst = int(np.argmax(vifs))
    return {**base, "condition_number": _finite(kappa), "vif_max": _finite(float(vifs[worst])),
            "vif_max_feature": covered[int(active[worst])], "vif_high": [covered[int(active[j])] for j in
                                                                         np.flatnonzero(vifs >= VIF_HIGH)][:20],
            "near_dependencies": int(near.sum()), "exact_dependencies": int((s <= tol).sum()), "relations": rels,
            "status": "ok"}


def reference_moments(reference: Any, p: int) -> Moments | None:
    """Moments of the reference profile's row sample (its first ``p`` features), None without a sample."""
    rows = getattr(getattr(reference, "sample", None), "rows", None)
    names = list(reference.features)[:p]
    if rows is None or len(rows) == 0 or any(name not in rows.columns for name in names):
        return None
    return moments_of(rows[names].to_numpy(dtype=np.float64), p)
