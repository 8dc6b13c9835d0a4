"""Torch modules behind the model protocol, with optional input normalisation."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from mathguard.errors import ModelError
from mathguard.models.base import Classifier


class Normalize(nn.Module):
    """(x - mean) / std per channel, as a layer, so attacks and bounds live in raw input space."""

    def __init__(self, mean: "float | Sequence[float] | torch.Tensor", std: "float | Sequence[float] | torch.Tensor",
                 input_shape: tuple[int, ...]) -> None:
        super().__init__()
        m = torch.as_tensor(mean, dtype=torch.float32)
        s = torch.as_tensor(std, dtype=torch.float32)
        if (s <= 0).any():
            raise ModelError("normalisation std must be positive")
        # A per-channel vector broadcasts over (C, H, W) images; a full-shape tensor is used as is.
        if m.ndim == 1 and len(input_shape) > 1 and m.numel() == input_shape[0]:
            m = m.view(-1, *([1] * (len(input_shape) - 1)))
        if s.ndim == 1 and len(input_shape) > 1 and s.numel() == input_shape[0]:
            s = s.view(-1, *([1] * (len(input_shape) - 1)))
        self.register_buffer("mean", m)
        self.register_buffer("std", s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TorchClassifier(Classifier):
    """An ``nn.Module`` that maps (N, *input_shape) to (N, C) logits."""

    kind = "torch"
    has_gradients = True

    def __init__(
        self,
        net: nn.Module,
        input_shape: tuple[int, ...],
        n_classes: int,
        bounds: tuple[float, float] | None = None,
        mean: "float | Sequence[float] | torch.Tensor | None" = None,
        std: "float | Sequence[float] | torch.Tensor | None" = None,
    ) -> None:
        self.net = net
        self.input_shape = tuple(int(d) for d in input_shape)
        self.n_classes = int(n_classes)
        self.bounds = None if bounds is None else (float(bounds[0]), float(bounds[1]))
        if self.bounds is not None and not self.bounds[0] < self.bounds[1]:
            raise ModelError(f"bounds must satisfy low < high, got {bounds}")
        if (mean is None) != (std is None):
            raise ModelError("give both mean and std for input normalisation, or neither")
        self.normalize = None if mean is None else Normalize(mean, std, self.input_shape)
        self._module = net if self.normalize is None else nn.Sequential(self.normalize, net)

    @property
    def module(self) -> nn.Module:
        return self._module

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._module(x)
