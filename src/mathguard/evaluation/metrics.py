"""Paired metrics written as functions of resampling weights.

A bootstrap resample is a vector of multiplicities over the observed examples, so a
metric that accepts a weight matrix ``W`` (one row per resample) is evaluated for a
whole chunk of resamples with a few matrix products — no Python loop per resample.
Metrics of hard labels (accuracy, F1) depend on the data only through the counts of
distinct (truth, pred_a, pred_b) cells; resampling n examples is then *exactly* a
multinomial draw over those few cells, which makes their bootstrap O(cells) per
resample instead of O(n).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mathguard import validate
from mathguard.errors import InputError
from mathguard.params import Check


@dataclass(frozen=True)
class Atoms:
    """Distinct units of resampling: ``counts[i]`` observed copies of atom ``i`` plus metric data."""

    counts: np.ndarray
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def per_example(self) -> bool:
        """True when every atom is one example (continuous scores), False for grouped cells."""
        return bool(np.all(self.counts == 1))


class PairedMetric(ABC):
    """A metric evaluated for model A and model B under the same resampling weights."""

    name: str = ""
    higher_is_better: bool = True

    @abstractmethod
    def atoms(self, y: np.ndarray, a: Any, b: Any) -> Atoms:
        """Validate predictions and group them into resampling atoms."""

    @abstractmethod
    def values(self, atoms: Atoms, W: np.ndarray) -> np.ndarray:
        """Metric of A and B, shape (B, 2), for weight rows ``W`` of shape (B, n_atoms)."""

    def jackknife(self, atoms: Atoms) -> np.ndarray:
        """Leave-one-example-out values (n_atoms, 2): drop one copy of each atom in turn."""
        m = atoms.counts.size
        if m > 4096:
            raise InputError(f"{self.name}: jackknife over {m} atoms needs a closed form")
        return self.values(atoms, atoms.counts[None, :] - np.eye(m))


def _cells(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows of the stacked non-negative integer columns (lexicographic order) and their counts.

    Rows are packed into one mixed-radix integer key (first column most significant), which
    keeps the order of ``np.unique(axis=0)`` at a fraction of its cost on millions of rows.
    """
    cols = [np.asarray(c, dtype=np.int64) for c in columns]
    radix = [int(c.max()) + 1 for c in cols]
    key = np.zeros(cols[0].size, dtype=np.int64)
    for c, r in zip(cols, radix):
        key = key * r + c
    size = int(np.prod(radix))
    if size <= 4 * key.size:
        counts = np.bincount(key, minlength=size)
        keys = np.flatnonzero(counts)
        counts = counts[keys]
    else:
        keys, counts = np.unique(key, return_counts=True)
    uniq = np.empty((keys.size, len(cols)), dtype=np.int64)
    for j in range(len(cols) - 1, -1, -1):
        keys, uniq[:, j] = np.divmod(keys, radix[j])
    return uniq, counts.astype(np.float64)


def _hard_predictions(y: np.ndarray, pred: Any, name: str) -> np.ndarray:
    p = validate.labels(pred, name)
    validate.same_length(y_true=y, **{name: p})
    return p


class Accuracy(PairedMetric):
    name = "accuracy"

    def atoms(self, y: np.ndarray, a: Any, b: Any) -> Atoms:
        pa, pb = _hard_predictions(y, a, "pred_a"), _hard_predictions(y, b, "pred_b")
        uniq, counts = _cells(pa == y, pb == y)
        return Atoms(counts, {"correct": uniq.astype(np.float64)})

    def values(self, atoms: Atoms, W: np.ndarray) -> np.ndarray:
        return (W @ atoms.data["correct"]) / W.sum(axis=1, keepdims=True)


class F1(PairedMetric):
    """F1 of class 1 for two classes, macro-averaged F1 over the classes seen otherwise (as scikit-learn)."""

    name = "f1"

    def atoms(self, y: np.ndarray, a: Any, b: Any) -> Atoms:
        pa, pb = _hard_predictions(y, a, "pred_a"), _hard_predictions(y, b, "pred_b")
        classes = np.union1d(np.union1d(y, pa), pb)
        if classes.size < 2:
            raise InputError("f1 needs at least two classes among y_true and the predictions")
        uniq, counts = _cells(y, pa, pb)
        used = np.array([1]) if classes.size == 2 and classes.max() <= 1 else classes
        return Atoms(counts, {"cells": uniq, "classes": used})

    def values(self, atoms: Atoms, W: np.ndarray) -> np.ndarray:
        cells, out = atoms.data["cells"], []
        truth = cells[:, 0][None, :] == atoms.data["classes"][:, None]  # (C, cells)
        for col in (1, 2):
            pred = cells[:, col][None, :] == atoms.data["classes"][:, None]
            tp, fp, fn = W @ (truth & pred).T, W @ (~truth & pred).T, W @ (truth & ~pred).T
            denom = 2 * tp + fp + fn
            f1 = np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)
            out.append(f1.mean(axis=1))
        return np.column_stack(out)


class LogLoss(PairedMetric):
    """Mean negative log-likelihood of the true class (lower is better); probabilities clipped at float64 eps."""

    name = "log_loss"
    higher_is_better = False

    def atoms(self, y: np.ndarray, a: Any, b: Any) -> Atoms:
        losses = []
        for name, p in (("proba_a", a), ("proba_b", b)):
            P = validate.probabilities(p, name)
            validate.same_length(y_true=y, **{name: P})
            if y.max() >= P.shape[1]:
                raise InputError(f"{name} has {P.shape[1]} columns but y_true has label {y.max()}")
            losses.append(example_nll(y, P))
        return Atoms(np.ones(y.size), {"loss": np.column_stack(losses)})

    def values(self, atoms: Atoms, W: np.ndarray) -> np.ndarray:
        return (W @ atoms.data["loss"]) / W.sum(axis=1, keepdims=True)

    def jackknife(self, atoms: Atoms) -> np.ndarray:
        loss, n = atoms.data["loss"], atoms.counts.size
        return (loss.sum(axis=0)[None, :] - loss) / (n - 1)


class AUC(PairedMetric):
    """Area under the ROC curve of binary scores (ties count one half)."""

    name = "auc"

    def atoms(self, y: np.ndarray, a: Any, b: Any) -> Atoms:
        if y.max() > 1:
            raise InputError("auc needs binary labels 0/1 in y_true")
        validate.at_least_two_classes(y)
        data: dict[str, Any] = {"pos": (y == 1).astype(np.float64)}
        for key, name, s in (("a", "score_a", a), ("b", "score_b", b)):
            s = validate.as_1d(s, name, dtype=np.float64)
            validate.same_length(y_true=y, **{name: s})
            order = np.argsort(s, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(s[order]) != 0])  # first index of each tie group
            data[key] = (order, starts, s)
        return Atoms(np.ones(y.size), data)

    def values(self, atoms: Atoms, W: np.ndarray) -> np.ndarray:
        pos = atoms.data["pos"]
        out = []
        for key in ("a", "b"):
            order, starts, _ = atoms.data[key]
            wp, wn = W[:, order] * pos[order], W[:, order] * (1 - pos[order])
            gp, gn = np.add.reduceat(wp, starts, axis=1), np.add.reduceat(wn, starts, axis=1)
            below = np.cumsum(gn, axis=1) - gn
            num = (gp * (below + 0.5 * gn)).sum(axis=1)
            out.append(num / (gp.sum(axis=1) * gn.sum(axis=1)))
        return np.column_stack(out)

    def jackknife(self, atoms: Atoms) -> np.ndarray:
        """Closed form: dropping a positive removes its 'negatives below' count, a negative its 'positives above'."""
        pos = atoms.data["pos"].astype(bool)
        P, N = pos.sum(), (~pos).sum()
        out = []
        for key in ("a", "b"):
            _, _, s = atoms.data[key]
            neg_sorted, pos_sorted = np.sort(s[~pos]), np.sort(s[pos])
            lt = np.searchsorted(neg_sorted, s, side="left")
            le = np.searchsorted(neg_sorted, s, side="right")
            neg_below = lt + 0.5 * (le - lt)  # for each example: negatives beaten
            gt = P - np.searchsorted(pos_sorted, s, side="right")
            ge = P - np.searchsorted(pos_sorted, s, side="left")
            pos_above = gt + 0.5 * (ge - gt)  # for each example: positives beating it
            total = neg_below[pos].sum()
            loo = np.where(pos, (total - neg_below) / ((P - 1) * N if P > 1 else np.nan),
                           (total - pos_above) / (P * (N - 1) if N > 1 else np.nan))
            out.append(loo)
        return np.column_stack(out)


METRICS: dict[str, type[PairedMetric]] = {m.name: m for m in (Accuracy, F1, LogLoss, AUC)}


def get_metric(metric: "str | PairedMetric") -> PairedMetric:
    """A metric instance from its name, with a clear error listing the choices."""
    if isinstance(metric, PairedMetric):
        return metric
    key = str(metric).lower().replace("-", "_")
    if key not in METRICS:
        raise InputError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    return METRICS[key]()


#: ``metric=``: a metric's name or a PairedMetric instance.
METRIC = Check(lambda value, _: get_metric(value), good="accuracy", bad=("nope", None, 3))


def example_nll(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-example negative log-likelihood of the true class, probabilities clipped at float64 eps.

    The clipping matches scikit-learn's ``log_loss`` so the metric agrees with it; the
    unclipped information-theoretic quantity (infinite for p = 0) is ``mathguard.info.cross_entropy``.
    """
    eps = np.finfo(np.float64).eps
    return -np.log(np.clip(proba[np.arange(y.size), y], eps, 1.0 - eps))
