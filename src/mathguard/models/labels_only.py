"""A model that answers labels only, like a production API: no scores, no gradients, every query counted.

Decision-based attacks (HopSkipJump) need nothing more; score-based and gradient attacks
are refused with a one-line error instead of silently reading scores an attacker would
never see.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from mathguard.errors import ModelError, UnsupportedError
from mathguard.models.base import Classifier, check_bounds, check_input_shape


class LabelsOnlyClassifier(Classifier):
    """``predict`` works and counts its rows in ``queries``; ``logits`` and ``proba`` raise UnsupportedError.

    ``source`` is a Classifier whose labels are exposed, or a function mapping an
    (N, *input_shape) numpy batch to N integer labels (then ``input_shape`` and
    ``n_classes`` are required).
    """

    has_gradients = False
    kind = "labels-only"

    def __init__(self, source: "Classifier | Callable[[np.ndarray], Any]", *, input_shape: Sequence[int] | None = None,
                 n_classes: int | None = None, bounds: tuple[float, float] | None = None) -> None:
        self.queries = 0
        if isinstance(source, Classifier):
            self._inner: Classifier | None = source
            self._fn = None
            self.input_shape, self.n_classes = source.input_shape, source.n_classes
            self.bounds = source.bounds if bounds is None else check_bounds(bounds)
            return
        if not callable(source):
            raise ModelError(f"labels_only needs a model or a labels function, got {type(source).__name__}")
        if input_shape is None or n_classes is None:
            raise ModelError("wrap(labels function, labels_only=True) needs input_shape=(...) and n_classes=")
        self._inner, self._fn = None, source
        self.input_shape = check_input_shape(input_shape)
        self.n_classes = int(n_classes)
        if self.n_classes < 2:
            raise ModelError(f"a classifier needs at least 2 classes, got {n_classes}")
        self.bounds = check_bounds(bounds)

    @property
    def parts(self) -> list[Classifier]:
        return [] if self._inner is None else [self._inner]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise UnsupportedError("this model returns labels only: use a decision-based attack "
                               "(mg.attacks.HopSkipJump)")

    @torch.no_grad()
    def predict(self, x: "torch.Tensor | np.ndarray", batch_size: int = 4096) -> torch.Tensor:
        xt = self.as_input(x)
        self.queries += len(xt)
        if self._inner is not None:
            return self._inner.predict(xt, batch_size=batch_size)
        out = [self._labels(xt[i:i + batch_size]) for i in range(0, len(xt), batch_size)]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)

    def _labels(self, x: torch.Tensor) -> torch.Tensor:
        assert self._fn is not None
        try:
            out = np.asarray(self._fn(x.numpy().astype(np.float64)))
        except Exception as exc:  # the user's API failing is a model problem, said in one line
            raise ModelError(f"the labels function failed on a batch of shape {tuple(x.shape)}: "
                             f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
        if out.shape != (len(x),) or not np.issubdtype(out.dtype, np.number) or not np.isfinite(out).all():
            raise ModelError(f"the labels function returned shape {out.shape} for {len(x)} inputs, "
                             f"expected ({len(x)},) finite labels")
        labels = torch.as_tensor(out).long()
        if not np.array_equal(out, labels.numpy()) or (labels < 0).any() or (labels >= self.n_classes).any():
            raise ModelError(f"the labels function returned values outside the integers 0..{self.n_classes - 1}")
        return labels
