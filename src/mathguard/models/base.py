"""The one model protocol every attack, certificate and check talks to.

Attacks never ask "is this torch or sklearn?"; they ask a :class:`Classifier` for
logits in *raw input space* (normalisation, if any, happens inside), for its number of
classes, input shape and bounds, and whether gradients exist.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from mathguard.errors import InputError


class Classifier(ABC):
    """A classifier seen through mathematics: x ↦ logits ∈ R^C.

    Attributes
    ----------
    n_classes: number of classes C.
    input_shape: shape of one input, e.g. ``(64,)`` or ``(1, 8, 8)``.
    bounds: ``(low, high)`` valid input range, or None if unbounded.
    has_gradients: True when :meth:`logits` is differentiable w.r.t. its input.
    kind: where it came from: "torch", "sklearn-twin", "sklearn", "onnx" or "callable".
    """

    n_classes: int
    input_shape: tuple[int, ...]
    bounds: tuple[float, float] | None
    has_gradients: bool
    kind: str

    @abstractmethod
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, *input_shape) float32 in raw input space → (N, C) logits.

        For black-box models that only give probabilities this returns their log, so that
        ``softmax(logits) == proba`` holds for every classifier.
        """

    @property
    def module(self) -> torch.nn.Module | None:
        """A torch module mapping raw inputs to logits (normalisation folded in), or None.

        Interval bound propagation, Lipschitz bounds and defenses need the layers
        themselves; black-box classifiers return None.
        """
        return None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=-1)

    @torch.no_grad()
    def predict(self, x: "torch.Tensor | np.ndarray", batch_size: int = 4096) -> torch.Tensor:
        """Predicted labels, computed in batches without building a graph."""
        xt = self.as_input(x)
        out = [self.logits(xt[i : i + batch_size]).argmax(dim=-1) for i in range(0, len(xt), batch_size)]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)

    def as_input(self, x: Any) -> torch.Tensor:
        """Validate and convert user data to a float32 tensor of shape (N, *input_shape)."""
        xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        if not torch.is_floating_point(xt):
            xt = xt.float()
        xt = xt.to(torch.float32)
        if xt.ndim == len(self.input_shape):
            xt = xt.unsqueeze(0)
        if tuple(xt.shape[1:]) != tuple(self.input_shape):
            raise InputError(
                f"input has shape {tuple(xt.shape)}, expected (N, {', '.join(map(str, self.input_shape))})"
            )
        if not torch.isfinite(xt).all():
            raise InputError("input contains NaN or Inf values")
        return xt

    def as_labels(self, y: Any, n: int) -> torch.Tensor:
        """Validate labels: integers in [0, n_classes), one per input."""
        yt = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
        if yt.ndim != 1 or len(yt) != n:
            raise InputError(f"labels must be a 1-D array of length {n}, got shape {tuple(yt.shape)}")
        if torch.is_floating_point(yt):
            if not torch.equal(yt, yt.round()):
                raise InputError("labels must be integers")
        yt = yt.long()
        if len(yt) and (yt.min() < 0 or yt.max() >= self.n_classes):
            raise InputError(
                f"labels out of range: found {int(yt.min())}..{int(yt.max())}, model has {self.n_classes} classes"
            )
        return yt

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """Project onto the input bounds (identity when unbounded)."""
        if self.bounds is None:
            return x
        return x.clamp(self.bounds[0], self.bounds[1])
