"""Detectors in a layer's feature space: Mahalanobis, k-nearest neighbours, activation entropy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from mathguard.detect import scores
from mathguard.detect.base import Detector
from mathguard.detect.forward import PENULTIMATE, Forward, forward_batches
from mathguard.errors import InputError
from mathguard.validate import integer
from mathguard.params import COUNT, Check, INT_SEED, Optional, declare


class ClassMoments:
    """Streaming per-class moments of features in float64, mergeable chunk by chunk.

    Each class keeps sums of y = f − K_c, where the shift K_c is the mean of that class's
    first chunk: the raw-sum formulas then never subtract two huge numbers (the
    cancellation that ruins Σffᵀ − n·μμᵀ). Fourth-order sums are kept too, so the
    Ledoit–Wolf shrinkage of the pooled covariance is exact without a second pass.
    """

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes
        self.count = np.zeros(n_classes, dtype=np.int64)
        self.shift: dict[int, np.ndarray] = {}
        self.s1: dict[int, np.ndarray] = {}
        self.s2: dict[int, np.ndarray] = {}
        self.sq: dict[int, float] = {}      # Σ‖y‖²
        self.sq_y: dict[int, np.ndarray] = {}  # Σ‖y‖² y
        self.quartic: dict[int, float] = {}  # Σ‖y‖⁴

    def update(self, f: np.ndarray, labels: np.ndarray) -> None:
        for c in np.unique(labels):
            fc = f[labels == c]
            c = int(c)
            if c not in self.shift:
                self.shift[c] = fc.mean(axis=0)
                d = f.shape[1]
                self.s1[c], self.s2[c], self.sq_y[c] = np.zeros(d), np.zeros((d, d)), np.zeros(d)
                self.sq[c] = self.quartic[c] = 0.0
            y = fc - self.shift[c]
            norm2 = np.einsum("ij,ij->i", y, y)
            self.count[c] += len(y)
            self.s1[c] += y.sum(axis=0)
            yt = torch.from_numpy(y)
            self.s2[c] += (yt.T @ yt).numpy()  # torch's float64 GEMM: about twice numpy's here
            self.sq[c] += float(norm2.sum())
            self.sq_y[c] += norm2 @ y
            self.quartic[c] += float(norm2 @ norm2)

    def pooled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(classes seen, class means, pooled within-class covariance (MLE), Σ‖residual‖⁴)."""
        classes = np.array(sorted(self.shift))
        n_total = int(self.count.sum())
        d = len(next(iter(self.shift.values())))
        scatter, quartic, means = np.zeros((d, d)), 0.0, []
        for c in classes:
            n = self.count[c]
            m = self.s1[c] / n
            means.append(self.shift[c] + m)
            scatter += self.s2[c] - n * np.outer(m, m)
            mm = float(m @ m)
            # Σ‖y − m‖⁴ expanded in the kept sums (y = f − shift, m = mean of y).
            quartic += (self.quartic[c] - 4 * float(self.sq_y[c] @ m) + 4 * float(m @ self.s2[c] @ m)
                        + 2 * mm * self.sq[c] - 4 * mm * float(self.s1[c] @ m) + n * mm * mm)
        return classes, np.array(means), scatter / n_total, quartic


def _check_shrinkage(value: Any, name: str) -> None:
    if not (value == "ledoit-wolf" or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and 0 <= value <= 1)):
        raise InputError(f"{name} must be 'ledoit-wolf', a number in [0, 1] or None, got {value!r}")


def ledoit_wolf_shrinkage(cov: np.ndarray, quartic: float, n: int) -> float:
    """Ledoit & Wolf (2004) shrinkage toward μ·I from the covariance and Σ‖x‖⁴ (scikit-learn's convention)."""
    d = len(cov)
    mu = np.trace(cov) / d
    frob = float((cov * cov).sum())
    beta = (quartic / n - frob) / (d * n)
    delta = (frob - 2 * mu * np.trace(cov) + d * mu * mu) / d
    beta = min(beta, delta)
    return 0.0 if beta <= 0 else float(beta / delta)


class Mahalanobis(Detector):
    """Distance to the closest class mean under a shared covariance (Lee et al. 2018).

    Class means and the pooled within-class covariance are fitted in one streaming
    pass (``partial_fit`` chunk by chunk gives the same answer as ``fit``), in float64.
    ``shrinkage`` is "ledoit-wolf", a float in [0, 1] toward μ·I, or None (exact; refused
    when the covariance is singular, as ReLU features with dead units make it).
    Labels: ``fit(x, y)``, or ``y_train`` given here, or else the model's own predictions.
    """

    name = "mahalanobis"
    needs_fit = True

    @declare(shrinkage=Optional(Check(_check_shrinkage, good="ledoit-wolf", bad=(-0.1, 1.5, math.nan, "oas", True))))
    def __init__(self, clf: Any, layer: str = PENULTIMATE, *, y_train: Any = None,
                 shrinkage: "str | float | None" = "ledoit-wolf") -> None:
        super().__init__(clf)
        self.layer = self._use_layer(layer)
        self.shrinkage = shrinkage
        self.y_train = y_train
        self._moments: ClassMoments | None = None
        self._stale = True

    def _fit(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        if y is None and self.y_train is not None:
            y = self.clf.as_labels(self.y_train, len(x))
        self._moments = None
        self._accumulate(x, y)
        self._finalize()

    def partial_fit(self, x: Any, y: Any = None) -> "Mahalanobis":
        """Add a chunk of clean data (labels optional: the model's predictions otherwise)."""
        xt = self._input(x)
        yt = None if y is None else self.clf.as_labels(y, len(xt))
        self._accumulate(xt, yt)
        self._fitted, self._stale = True, True
        self._calibration = self._threshold = self._fpr = None
        return self

    def _accumulate(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        if self._moments is None:
            self._moments = ClassMoments(self.clf.n_classes)
        start = 0
        for out in forward_batches(self.clf, x, self.layer):
            rows = slice(start, start + len(out.x))
            start += len(out.x)
            labels = out.logits.argmax(dim=1) if y is None else y[rows]
            self._moments.update(out.features[self.layer].double().cpu().numpy(), labels.cpu().numpy())
        self._stale = True

    def _finalize(self) -> None:
        classes, means, cov, quartic = self._moments.pooled()
        n = int(self._moments.count.sum())
        if n <= len(classes):
            raise InputError(f"Mahalanobis needs more inputs than classes; got {n} for {len(classes)} classes")
        shrink = ledoit_wolf_shrinkage(cov, quartic, n) if self.shrinkage == "ledoit-wolf" else float(
            self.shrinkage or 0.0)
        mu = np.trace(cov) / len(cov)
        cov = (1 - shrink) * cov + shrink * mu * np.eye(len(cov))
        vals, vecs = np.linalg.eigh(cov)
        if vals.min() <= 1e-12 * max(vals.max(), 1e-300):
            raise InputError(f"the pooled covariance of layer {self.layer!r} is singular "
                             f"(rank {int((vals > 1e-12 * vals.max()).sum())} of {len(vals)}); use shrinkage")
        self.classes_, self.means_, self.covariance_, self.shrinkage_ = classes, means, cov, shrink
        self._whiten = torch.from_numpy(vecs / np.sqrt(vals))
        self._centers = torch.from_numpy(means)
        self._stale = False

    def _score_forward(self, out: Forward) -> torch.Tensor:
        if self._stale:
            self._finalize()
        return scores.min_whitened_distance(out.features[self.layer], self._centers, self._whiten)


class KNN(Detector):
    """Distance to the k-th nearest training input in L2-normalised feature space (Sun et al. 2022).

    Training features are kept as a bank (at most ``max_bank`` rows, a seeded sample
    beyond that); scoring is brute force, chunked so memory stays bounded.
    """

    name = "knn"
    needs_fit = True

    @declare(k=COUNT, max_bank=COUNT, random_state=INT_SEED)
    def __init__(self, clf: Any, layer: str = PENULTIMATE, *, k: int = 10, max_bank: int = 50_000,
                 random_state: int = 0) -> None:
        super().__init__(clf)
        integer(max_bank, "max_bank", low=integer(k, "k"))
        self.layer = self._use_layer(layer)
        self.k, self.max_bank, self.random_state = k, max_bank, random_state

    @staticmethod
    def _normalise(f: torch.Tensor) -> torch.Tensor:
        return f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def _fit(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        if len(x) < self.k:
            raise InputError(f"KNN with k={self.k} needs at least {self.k} training inputs, got {len(x)}")
        if len(x) > self.max_bank:
            keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.random_state))
            x = x[keep[: self.max_bank].sort().values]
        self.bank_ = torch.cat([self._normalise(o.features[self.layer])
                                for o in forward_batches(self.clf, x, self.layer)])

    def _score_forward(self, out: Forward) -> torch.Tensor:
        return scores.kth_neighbour_distance(self._normalise(out.features[self.layer]), self.bank_, self.k)


class ActivationEntropy(Detector):
    """How far a layer's activation entropy lies from the training mean, in training standard deviations.

    Activations |a| are read as a distribution over units (bits); inputs that light up
    too few or too many units — both unusual — score high.
    """

    name = "activation-entropy"
    needs_fit = True

    def __init__(self, clf: Any, layer: str = PENULTIMATE) -> None:
        super().__init__(clf)
        self.layer = self._use_layer(layer)

    @staticmethod
    def activation_entropy(f: torch.Tensor) -> torch.Tensor:
        a = f.abs()
        p = a / a.sum(dim=1, keepdim=True).clamp_min(1e-30)
        return scores.entropy_bits(p)

    def _fit(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        h = torch.cat([self.activation_entropy(o.features[self.layer])
                       for o in forward_batches(self.clf, x, self.layer)]).double()
        if len(h) < 2:
            raise InputError("activation entropy needs at least 2 training inputs")
        self.mean_, self.std_ = float(h.mean()), float(h.std())
        if self.std_ == 0:
            raise InputError(f"layer {self.layer!r} has the same activation entropy on every training input")

    def _score_forward(self, out: Forward) -> torch.Tensor:
        return (self.activation_entropy(out.features[self.layer]).double() - self.mean_).abs() / self.std_
