"""The one model protocol every attack, certificate and check talks to.

Attacks never ask "is this torch or sklearn?"; they ask a :class:`Classifier` for
logits in *raw input space* (normalisation, if any, happens inside), for its number of
classes, input shape and bounds, and whether gradients exist.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from mathguard.errors import InputError, ModelError

#: The label of a prediction withheld: a smoothed classifier that cannot decide, a guard that abstains.
ABSTAIN = -1


def check_input_shape(input_shape: Any) -> tuple[int, ...]:
    """A non-empty tuple of positive integers: the shape of one input."""
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ModelError(f"input_shape must be a tuple of positive integers, got {input_shape!r}") from None
    if not shape or min(shape) < 1:
        raise ModelError(f"input_shape must be a non-empty tuple of positive sizes, got {input_shape!r}")
    return shape


def check_bounds(bounds: Any) -> tuple[float, float] | None:
    """``None`` or two finite numbers low < high: a wrong range would clip every attack and certificate."""
    if bounds is None:
        return None
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ModelError(f"bounds must be two numbers (low, high), got {bounds!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ModelError(f"bounds must be finite with low < high, got {bounds!r}")
    return low, high


def check_normalisation(mean: Any, std: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Both or neither; finite; std > 0 (a NaN std would turn every input into NaN)."""
    if (mean is None) != (std is None):
        raise ModelError("give both mean and std for input normalisation, or neither")
    if mean is None:
        return None
    try:
        m, s = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64)
                for v in (mean, std))
    except (TypeError, ValueError):
        raise ModelError(f"normalisation mean and std must be numbers, got {mean!r}, {std!r}") from None
    if not np.isfinite(m).all():
        raise ModelError("normalisation mean must be finite")
    if not (np.isfinite(s).all() and (s > 0).all()):
        raise ModelError("normalisation std must be positive and finite")
    return m, s


def as_tensor(x: Any) -> torch.Tensor:
    """A tensor view of ``x`` (numpy arrays and nested lists included), so logits() accepts what users pass."""
    if isinstance(x, torch.Tensor):
        return x
    try:
        a = np.asarray(x)
        # Read-only arrays (Parquet, memory maps) would make torch warn; a copy keeps the caller's data safe.
        return torch.as_tensor(a if a.flags.writeable else a.copy())
    except (TypeError, ValueError, RuntimeError):
        raise InputError(f"inputs must be a numeric array, got {type(x).__name__}") from None


def check_output(shape: tuple[int, ...], bad_rows: int, n: int, n_classes: int | None, name: str) -> None:
    """One row of C finite numbers per input, or a ModelError naming what is wrong.

    Shared by every classifier: a transposed, broadcast or NaN answer would otherwise flow
    silently into accuracies, attacks and certificates.
    """
    expected = f"({n}, {n_classes if n_classes is not None else 'classes'})"
    if len(shape) != 2 or shape[0] != n or (n_classes is not None and shape[1] != n_classes):
        raise ModelError(f"{name} returned shape {tuple(shape)} for {n} inputs, expected {expected}")
    if bad_rows:
        raise ModelError(f"{name} returned NaN or Inf in {bad_rows} of {n} rows")


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

    @property
    def parts(self) -> "list[Classifier]":
        """The classifiers this one is built from (ensemble members, a wrapped model), if any.

        Whatever must hold for the deployed model (eval mode, say) must hold for every part.
        """
        return []

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
        xt = as_tensor(x)
        if xt.is_complex():
            raise InputError(f"inputs must be real numbers, got dtype {xt.dtype}")
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
        yt = as_tensor(y)
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
