"""The one detector protocol: fit, score, calibrate(fpr), p_values, predict.

Every detector scores an input so that *higher means more suspicious*, from the
:class:`~mathguard.detect.forward.Forward` pass it shares with the prediction and with
other detectors. ``calibrate`` turns scores into a deployment decision with the
split-conformal guarantee (false alarms ≤ fpr on exchangeable clean data).
Scores are torch tensors inside (so the adaptive attack can differentiate them) and
numpy arrays outside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from mathguard.detect.conformal import check_fpr, conformal_p_values, conformal_threshold
from mathguard.detect.forward import Forward, check_layer, forward
from mathguard.errors import InputError, ModelError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode
from mathguard.models.wrap import as_classifier

BATCH = 512


class Detector(ABC):
    """Base of every detector.

    Subclasses set ``layers`` (features they read from the shared pass), implement
    :meth:`_score_forward` and, when they learn from clean data, :meth:`_fit`.
    ``differentiable`` is False when the score has no useful gradient; the adaptive
    attack then uses the straight-through surrogate the detector provides.
    """

    name: str = "detector"
    needs_fit: bool = False
    differentiable: bool = True

    def __init__(self, clf: Any) -> None:
        self.clf: Classifier = as_classifier(clf)
        self.layers: frozenset[str] = frozenset()
        self._fitted = not self.needs_fit
        self._calibration: np.ndarray | None = None
        self._threshold: float | None = None
        self._fpr: float | None = None

    # -- what subclasses provide ----------------------------------------------------
    @abstractmethod
    def _score_forward(self, out: Forward) -> torch.Tensor:
        """(N,) scores from a forward pass (differentiable where the detector is)."""

    def _fit(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        """Learn from clean data; the default has nothing to learn."""

    def _use_layer(self, layer: str) -> str:
        self.layers = frozenset({check_layer(self.clf, layer)})
        return layer

    # -- fitting --------------------------------------------------------------------
    def fit(self, x: Any, y: Any = None) -> "Detector":
        """Learn what the detector needs from clean training data (labels only where stated)."""
        xt = self._input(x)
        yt = None if y is None else self.clf.as_labels(y, len(xt))
        with eval_mode(self.clf):
            self._fit(xt, yt)
        self._fitted = True
        self._calibration = self._threshold = self._fpr = None  # a refit invalidates the threshold
        return self

    # -- scoring --------------------------------------------------------------------
    def score(self, x: Any) -> np.ndarray:
        """(N,) float64 scores; higher = more suspicious."""
        return score_many([self], x)[0]

    def calibrate(self, x: Any, fpr: float = 0.05) -> "Detector":
        """Choose the threshold on clean held-out data so that P(false alarm) ≤ fpr."""
        s = np.sort(self.score(x))
        check_fpr(fpr, len(s))
        self._calibration, self._fpr = s, float(fpr)
        self._threshold = conformal_threshold(s, fpr)
        return self

    def p_values(self, x: Any) -> np.ndarray:
        """Conformal p-values: small means unlike the clean calibration data."""
        return self.p_values_of(self.score(x))

    def predict(self, x: Any) -> np.ndarray:
        """(N,) bool: True where the input is flagged as suspicious."""
        return self.flag(self.score(x))

    # -- decisions from scores already computed (the guard and evaluate share a pass) --
    def p_values_of(self, scores: np.ndarray) -> np.ndarray:
        self._check_calibrated()
        return conformal_p_values(self._calibration, np.asarray(scores, dtype=np.float64))

    def flag(self, scores: np.ndarray) -> np.ndarray:
        self._check_calibrated()
        return np.asarray(scores, dtype=np.float64) > self._threshold

    @property
    def threshold(self) -> float:
        self._check_calibrated()
        return self._threshold

    @property
    def fpr(self) -> float:
        self._check_calibrated()
        return self._fpr

    @property
    def n_calibration(self) -> int:
        self._check_calibrated()
        return len(self._calibration)

    @property
    def is_calibrated(self) -> bool:
        return self._threshold is not None

    def surrogate(self, out: Forward) -> torch.Tensor:
        """(N,) differentiable stand-in, ≤ 0 where the input passes: (score − threshold) / spread.

        The adaptive attack descends it; detectors whose score has no gradient override
        :meth:`_score_forward` with a straight-through (BPDA) version for this purpose.
        """
        self._check_calibrated()
        spread = float(np.subtract(*np.percentile(self._calibration, [75, 25]))) or 1.0
        return (self._score_forward(out) - self._threshold) / spread

    # -- checks ---------------------------------------------------------------------
    def _input(self, x: Any) -> torch.Tensor:
        xt = self.clf.as_input(x)
        if len(xt) == 0:
            raise InputError(f"{self.name}: no inputs given")
        return xt

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise InputError(f"{self.name} is not fitted: call fit(x_train) first")

    def _check_calibrated(self) -> None:
        if self._threshold is None:
            raise InputError(f"{self.name} is not calibrated: call calibrate(x_val, fpr=...) first")

    def __repr__(self) -> str:
        state = f"threshold={self._threshold:.4g}, fpr={self._fpr}" if self.is_calibrated else (
            "fitted" if self._fitted else "not fitted")
        return f"{type(self).__name__}({state})"


def unique_names(detectors: Sequence[Detector]) -> list[str]:
    """Display names that tell detectors apart: a second Energy detector becomes 'energy#2'."""
    seen: dict[str, int] = {}
    out = []
    for d in detectors:
        seen[d.name] = seen.get(d.name, 0) + 1
        out.append(d.name if seen[d.name] == 1 else f"{d.name}#{seen[d.name]}")
    return out


def slices(n: int, size: int = BATCH) -> Iterable[slice]:
    """Row ranges of at most ``size`` covering ``n`` rows (``mg.defend.batches`` is the training loader)."""
    return (slice(i, min(i + size, n)) for i in range(0, n, size))


def shared_forward(detectors: Sequence[Detector], xt: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and every detector's scores for one batch, from a single forward pass of their model."""
    clf = detectors[0].clf
    layers = frozenset().union(*(d.layers for d in detectors))
    out = forward(clf, xt, layers)
    return out.logits, [d._score_forward(out).detach() for d in detectors]


def score_many(detectors: Sequence[Detector], x: Any) -> list[np.ndarray]:
    """Scores of several detectors of one model, sharing one forward pass per batch."""
    if not detectors:
        raise InputError("no detectors given")
    clf = detectors[0].clf
    if any(d.clf is not clf for d in detectors):
        raise InputError("detectors scored together must watch the same classifier object")
    for d in detectors:
        d._check_fitted()
    xt = detectors[0]._input(x)
    parts: list[list[torch.Tensor]] = [[] for _ in detectors]
    with torch.no_grad(), eval_mode(clf):
        for sl in slices(len(xt)):
            _, scores = shared_forward(detectors, xt[sl])
            for acc, s in zip(parts, scores):
                acc.append(s)
    out = [torch.cat(p).double().cpu().numpy() for p in parts]
    for d, s in zip(detectors, out):
        if not np.isfinite(s).all():
            raise ModelError(f"{d.name} produced non-finite scores")
    return out
