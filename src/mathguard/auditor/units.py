"""Attack budgets in units of each feature's spread: the model seen from standardised coordinates.

Tabular features have no common scale (a ratio with sd 0.007 next to an amount with sd 350),
so one raw eps is meaningless across them. In ``"std"`` units the audit attacks and certifies
``g(z) = f(m + z ⊙ s)`` with ``m`` and ``s`` the training means and standard deviations: an
eps of 0.1 moves every feature by at most 0.1 of its own spread. Centring keeps float32
coordinates exact for columns far from zero. The map is mathguard's ``Normalize`` layer
(mean −m/s, std 1/s), which the bounds know, so certificates of ``g`` are certificates of
``f`` on the matching per-feature box.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from mathguard.models.base import Classifier
from mathguard.models.torch_model import Normalize


def feature_scale(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature training mean and standard deviation; a constant feature keeps its raw unit (scale 1)."""
    x = np.asarray(x_train, dtype=np.float64)
    sd = x.std(axis=0)
    return x.mean(axis=0), np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)


class Standardised(Classifier):
    """``clf`` seen from coordinates z = (x − centre) / scale: ``logits(z) = clf.logits(centre + z * scale)``."""

    def __init__(self, clf: Classifier, centre: np.ndarray, scale: np.ndarray) -> None:
        self.clf, self.scale = clf, np.asarray(scale, dtype=np.float64)
        self.centre = np.asarray(centre, dtype=np.float64)
        self.n_classes, self.input_shape, self.bounds = clf.n_classes, clf.input_shape, None
        self.has_gradients, self.kind = clf.has_gradients, f"standardised({clf.kind})"
        self._scale = torch.as_tensor(self.scale, dtype=torch.float32)
        self._centre = torch.as_tensor(self.centre, dtype=torch.float32)
        inner = clf.module
        self._module = None if inner is None else nn.Sequential(
            Normalize(-self.centre / self.scale, 1.0 / self.scale, clf.input_shape), inner)

    @property
    def module(self) -> nn.Module | None:
        return self._module

    @property
    def parts(self) -> list[Classifier]:
        return [self.clf]

    def logits(self, x: Any) -> torch.Tensor:
        z = torch.as_tensor(x)
        if self._module is not None:  # the very map the bounds see, so a proof and an attack agree
            return self.clf.logits(self._module[0].to(z.device)(z))
        return self.clf.logits(self._centre.double().to(z.device) + z.double() * self._scale.double().to(z.device))

    def to_z(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.centre) / self.scale).astype(np.float32)
