"""Lipschitz-constrained layers: bound each layer's operator norm so certified L2 radii are non-trivial."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from mathguard.params import POSITIVE, declare


class _ConvOperatorNorm(nn.Module):
    """Parametrization W ↦ W / max(1, σ(W)/bound) with σ the conv *operator* norm on the real input shape.

    One power-iteration step per training forward keeps the estimate current (as in
    Miyato et al.'s spectral normalisation, but for the convolution operator itself).
    """

    def __init__(self, conv: nn.Conv2d, input_shape: tuple[int, ...], bound: float) -> None:
        super().__init__()
        self.kw = dict(stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=conv.groups)
        self.bound = bound
        self.input_shape = input_shape
        self.kernel = tuple(conv.weight.shape[-2:])
        self.register_buffer("u", F.normalize(torch.randn(1, *input_shape).flatten(), dim=0).view(1, *input_shape))
        with torch.no_grad():
            for _ in range(50):
                self._iterate(conv.weight)

    def _iterate(self, w: torch.Tensor) -> None:
        out = F.conv2d(self.u, w, **self.kw)
        back = F.conv_transpose2d(out, w, output_padding=self._output_padding(out), **self.kw)
        self.u = back / back.norm().clamp_min(1e-12)

    def _output_padding(self, out: torch.Tensor) -> tuple[int, int]:
        # conv_transpose cannot infer input sizes lost to stride rounding; restore them.
        pad = []
        for axis in (0, 1):
            covered = ((out.shape[axis - 2] - 1) * self.kw["stride"][axis] - 2 * self.kw["padding"][axis]
                       + self.kw["dilation"][axis] * (self.kernel[axis] - 1) + 1)
            pad.append(self.input_shape[axis - 2] - covered)
        return pad[0], pad[1]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                self._iterate(w)
        sigma = F.conv2d(self.u, w, **self.kw).norm()
        return w / torch.clamp(sigma / self.bound, min=1.0)


@declare(bound=POSITIVE)
def lipschitz_layers(net: nn.Module, *, input_shape: tuple[int, ...], bound: float = 1.0) -> nn.Module:
    """A copy of ``net`` whose Linear and Conv2d layers each have operator norm ≤ ``bound`` (estimated).

    Combined with 1-Lipschitz activations (ReLU) the whole net is ≤ bound^depth-Lipschitz,
    which :func:`mathguard.certify.lipschitz` then turns into certified radii.
    """
    net = copy.deepcopy(net)
    shapes: dict[nn.Module, tuple[int, ...]] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, inp: shapes.__setitem__(mod, tuple(inp[0].shape[1:])))
             for m in net.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        net.eval()(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    for module in list(net.modules()):
        if isinstance(module, nn.Linear):
            nn.utils.parametrizations.spectral_norm(module, n_power_iterations=1)
            _scale_parametrization(module, bound)
        elif isinstance(module, nn.Conv2d):
            parametrize.register_parametrization(module, "weight", _ConvOperatorNorm(module, shapes[module], bound))
    return net


class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.factor


def _scale_parametrization(module: nn.Linear, bound: float) -> None:
    if bound != 1.0:
        parametrize.register_parametrization(module, "weight", _Scale(bound))
