"""Per-feature constraints for any modality: immutable features and per-feature bounds.

Tabular inputs have features an attacker cannot change (age, a contract's start date)
and features with their own ranges; signals and images share one range, ``clf.bounds``.
A :class:`FeatureBox` merges both and projects any candidate back into the allowed set,
so an attack that projects through it never changes an immutable feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mathguard.errors import InputError
from mathguard.models.base import Classifier


@dataclass(frozen=True)
class FeatureBox:
    """Allowed inputs: ``low <= x <= high`` per feature, immutable features pinned to their clean value.

    Every tensor has the shape of one input; ``None`` means no constraint of that kind.
    """

    low: torch.Tensor | None
    high: torch.Tensor | None
    mutable: torch.Tensor | None

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """Clamp a batch into the per-feature bounds."""
        if self.low is None or self.high is None:
            return x
        return torch.max(torch.min(x, self.high.to(x.device)), self.low.to(x.device))

    def mask(self, delta: torch.Tensor) -> torch.Tensor:
        """Zero the immutable coordinates of a batch of directions or perturbations."""
        return delta if self.mutable is None else delta * self.mutable.to(delta)

    def project(self, adv: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """Nearest allowed batch: clipped into the bounds, immutable features reset to ``clean``."""
        adv = self.clip(adv)
        return adv if self.mutable is None else torch.where(self.mutable.to(adv.device), adv, clean)

    @property
    def span(self) -> float | None:
        """Mean width of the mutable features' ranges (the scale of a first random probe), or None."""
        if self.low is None or self.high is None:
            return None
        width = self.high - self.low
        return float(width[self.mutable].mean() if self.mutable is not None else width.mean())


def _per_feature(value: Any, shape: tuple[int, ...], what: str, dtype: torch.dtype) -> torch.Tensor | None:
    if value is None:
        return None
    arr = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
    try:
        out = torch.as_tensor(np.broadcast_to(arr, shape).copy()).to(dtype)
    except (ValueError, TypeError):
        raise InputError(f"{what} must broadcast to the input shape {shape}, got shape {arr.shape}") from None
    return out


def feature_box(clf: Classifier, x: torch.Tensor, *, low: Any = None, high: Any = None,
                mutable: Any = None) -> FeatureBox:
    """Merge the model's bounds with per-feature ``low``/``high`` and a ``mutable`` mask; check ``x`` fits."""
    shape = tuple(clf.input_shape)
    lo = _per_feature(low, shape, "low", torch.float32)
    hi = _per_feature(high, shape, "high", torch.float32)
    m = _per_feature(mutable, shape, "mutable", torch.bool) if mutable is not None else None
    if mutable is not None and np.asarray(mutable).dtype != np.bool_:
        raise InputError("mutable must be a boolean mask (True where the attacker may change a feature)")
    if clf.bounds is not None:
        lo = torch.full(shape, clf.bounds[0]) if lo is None else lo.clamp_min(clf.bounds[0])
        hi = torch.full(shape, clf.bounds[1]) if hi is None else hi.clamp_max(clf.bounds[1])
    if (lo is None) != (hi is None):
        raise InputError("give both low and high per-feature bounds (or model bounds), or neither")
    if lo is not None and hi is not None:
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()) or (lo > hi).any():
            raise InputError("per-feature bounds must be finite with low <= high")
        outside = (x < lo.to(x.device)) | (x > hi.to(x.device))
        if m is not None:
            outside &= m.to(x.device)
        if outside.any():
            raise InputError(f"{int(outside.flatten(1).any(1).sum())} inputs lie outside the per-feature bounds")
    if m is not None and not m.any():
        raise InputError("mutable marks no feature as changeable: there is nothing to attack")
    return FeatureBox(lo, hi, m)
