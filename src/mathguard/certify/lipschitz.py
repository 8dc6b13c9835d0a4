"""Global L2 Lipschitz bound of a feed-forward network as the product of per-layer operator norms.

Linear layers use the exact largest singular value; convolutions and average pooling are
treated as the linear operators they are on the actual feature-map shape (power iteration
with conv / conv_transpose), not as reshaped kernels, which can under- or over-state them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mathguard.errors import InputError, UnsupportedError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import Normalize

_ONE_LIPSCHITZ = (nn.ReLU, nn.Tanh, nn.LeakyReLU, nn.Flatten, nn.Identity, nn.Dropout, nn.Hardtanh, nn.ReLU6,
                  nn.ELU)


@dataclass
class LipschitzBound:
    """``bound`` ≥ ‖f(x) − f(x')‖₂ / ‖x − x'‖₂ for all x, x' (up to power-iteration tolerance on convs)."""

    bound: float
    layers: list[tuple[str, float]] = field(default_factory=list)

    def radius(self, margin: "torch.Tensor | float") -> "torch.Tensor | float":
        """Certified L2 radius from the logit margin (top − runner-up): margin / (√2·L)."""
        return margin / (math.sqrt(2.0) * self.bound)


@torch.no_grad()
def operator_norm(op: Any, op_t: Any, shape: tuple[int, ...], iters: int = 2000, tol: float = 1e-10,
                  seed: int = 0) -> float:
    """Largest singular value of a linear map given as (op, its adjoint) by power iteration on AᵀA."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn((1, *shape), generator=gen, dtype=torch.float64)
    v /= v.norm()
    sigma = 0.0
    for _ in range(iters):
        w = op_t(op(v))
        new = float(w.norm().sqrt())
        v = w / w.norm()
        if abs(new - sigma) <= tol * max(new, 1e-12):
            sigma = new
            break
        sigma = new
    return sigma


def _conv_norm(layer: nn.Conv2d, shape: tuple[int, ...]) -> float:
    w = layer.weight.detach().double()
    kw = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    out = F.conv2d(torch.zeros(1, *shape, dtype=torch.float64), w, **kw)
    extra = [shape[-2] - ((out.shape[-2] - 1) * layer.stride[0] - 2 * layer.padding[0]
                          + layer.dilation[0] * (w.shape[-2] - 1) + 1),
             shape[-1] - ((out.shape[-1] - 1) * layer.stride[1] - 2 * layer.padding[1]
                          + layer.dilation[1] * (w.shape[-1] - 1) + 1)]
    return operator_norm(lambda v: F.conv2d(v, w, **kw),
                         lambda v: F.conv_transpose2d(v, w, output_padding=tuple(extra), **kw), shape)


def _layer_norm(layer: nn.Module, shape: tuple[int, ...]) -> float:
    if isinstance(layer, nn.Linear):
        return float(torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2))
    if isinstance(layer, nn.Conv2d):
        if layer.padding_mode != "zeros":
            raise UnsupportedError("Lipschitz bound supports zero-padded convolutions only")
        return _conv_norm(layer, shape)
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        if layer.training:
            raise UnsupportedError("Lipschitz bound needs BatchNorm in eval mode (call model.eval())")
        scale = (layer.weight.detach() if layer.affine else 1.0) / torch.sqrt(layer.running_var + layer.eps)
        return float(torch.as_tensor(scale).abs().max())
    if isinstance(layer, Normalize):
        return float((1.0 / layer.std).abs().max())
    if isinstance(layer, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        def adjoint(v: torch.Tensor) -> torch.Tensor:
            # Pooling is linear, so its adjoint is the vector-Jacobian product at any point.
            with torch.enable_grad():
                z = torch.zeros(1, *shape, dtype=torch.float64, requires_grad=True)
                (g,) = torch.autograd.grad(layer(z), z, v)
            return g

        return operator_norm(layer, adjoint, shape)
    if isinstance(layer, nn.MaxPool2d):
        k = layer.kernel_size if isinstance(layer.kernel_size, tuple) else (layer.kernel_size,) * 2
        s = layer.stride if isinstance(layer.stride, tuple) else (layer.stride,) * 2
        # Each input feeds at most ceil(k/s) windows per axis; ‖Δout‖² ≤ (that count)·‖Δin‖².
        return math.sqrt(math.ceil(k[0] / s[0]) * math.ceil(k[1] / s[1]))
    if isinstance(layer, nn.Sigmoid):
        return 0.25
    if isinstance(layer, _ONE_LIPSCHITZ):
        return 1.0
    if type(layer).__name__ == "Float64":
        return 1.0
    raise UnsupportedError(f"no Lipschitz bound for layer {type(layer).__name__}")


def _leaves(module: nn.Module) -> list[tuple[str, nn.Module]]:
    if isinstance(module, nn.Sequential):
        return [(f"{name}.{sub}" if sub else name, leaf)
                for name, child in module.named_children() for sub, leaf in _leaves(child)]
    return [("", module)]


def lipschitz(model: Any, input_shape: tuple[int, ...] | None = None) -> LipschitzBound:
    """Product of per-layer L2 operator norms of a sequential network (a Classifier or nn.Module)."""
    if isinstance(model, Classifier):
        if model.module is None:
            raise UnsupportedError("a Lipschitz bound needs the model's layers; a black-box classifier has none")
        net, input_shape = model.module, input_shape or model.input_shape
    elif isinstance(model, nn.Module):
        net = model
    else:
        raise UnsupportedError(f"expected a torch module or a Classifier, got {type(model).__name__}")
    if input_shape is None:
        first = next((m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))), None)
        if not isinstance(first, nn.Linear):
            raise InputError("pass input_shape=(C, H, W) so convolutions can be treated as operators")
        input_shape = (first.in_features,)
    x = torch.zeros(1, *input_shape, dtype=torch.float64)
    layers: list[tuple[str, float]] = []
    total = 1.0
    for name, layer in _leaves(net):
        sigma = _layer_norm(layer, tuple(x.shape[1:]))
        layers.append((name or type(layer).__name__, sigma))
        total *= sigma
        with torch.no_grad():
            x = _forward_double(layer, x)
    return LipschitzBound(total, layers)


def _forward_double(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Shape tracking only: run the layer on a zero probe in its own dtype."""
    dtype = next((p.dtype for p in layer.parameters()), None) or next((b.dtype for b in layer.buffers()), x.dtype)
    out = layer(x.to(dtype) if type(layer).__name__ != "Float64" else x)
    return out.double()
