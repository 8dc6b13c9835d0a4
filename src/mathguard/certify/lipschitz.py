"""Global L2 Lipschitz bound of a feed-forward network as the product of per-layer operator norms.

Every per-layer number is an upper bound, never an estimate: power iteration approaches
σ_max from below, so it is not used. Linear layers use the exact largest singular value;
convolutions and average pooling are treated as the linear operators they are on the actual
feature-map shape, with the exact norm of the unrolled matrix when it is small and, when it
is not, the smaller of two rigorous bounds (the circular-convolution spectrum of Sedghi et
al. 2019, which the zero-padded, strided map is a restriction of, and Schur's test
‖A‖₂ ≤ √(‖A‖₁‖A‖∞)). Each bound gets a relative margin for float64 round-off.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from mathguard.errors import InputError, UnsupportedError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import Normalize, check_module, device_and_dtype, eval_mode, library_layer

#: Unrolled operators with at most this many entries (in × out) get their exact norm by SVD (80 MB in float64).
MAX_DENSE_ENTRIES = 10_000_000
#: Relative margin on every computed norm: float64 SVDs and FFTs are accurate to ~1e-15 relative.
ROUNDOFF = 1e-9

_ONE_LIPSCHITZ = (nn.ReLU, nn.Tanh, nn.Flatten, nn.Identity, nn.modules.dropout._DropoutNd, nn.Hardtanh,
                  nn.ReLU6)

Op = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LipschitzBound:
    """``bound`` ≥ ‖f(x) − f(x')‖₂ / ‖x − x'‖₂ for all x, x' (the eval-mode network)."""

    bound: float
    layers: list[tuple[str, float]] = field(default_factory=list)

    def radius(self, margin: "torch.Tensor | float") -> "torch.Tensor | float":
        """Certified L2 radius from the logit margin (top − runner-up): margin / (√2·L)."""
        return margin / (math.sqrt(2.0) * self.bound)


@torch.no_grad()
def _dense_norm(op: Op, shape: tuple[int, ...]) -> float | None:
    """Exact σ_max of the unrolled matrix, or None when it would be too large to build."""
    n_in = math.prod(shape)
    n_out = op(torch.zeros(1, *shape, dtype=torch.float64)).numel()
    if n_in * n_out > MAX_DENSE_ENTRIES:
        return None
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *shape)
    columns = torch.cat([op(basis[i:i + 256]).reshape(-1, n_out) for i in range(0, n_in, 256)])
    return float(torch.linalg.matrix_norm(columns, ord=2))


@torch.no_grad()
def _schur_bound(abs_op: Op, abs_adjoint: Op, shape: tuple[int, ...]) -> float:
    """√(max row sum · max column sum) of |A|, given A's entrywise absolute value as a map and its adjoint."""
    rows = abs_op(torch.ones(1, *shape, dtype=torch.float64))
    cols = abs_adjoint(torch.ones_like(rows))
    return math.sqrt(float(rows.max()) * float(cols.max()))


def _full_dilated_kernel(layer: nn.Conv2d) -> torch.Tensor:
    """The (C_out, C_in, KH, KW) kernel of an ungrouped, undilated convolution computing the same map."""
    w = layer.weight.detach().double()
    c_out, c_in_g, kh, kw = w.shape
    dh, dw = layer.dilation
    full = torch.zeros(c_out, c_in_g * layer.groups, (kh - 1) * dh + 1, (kw - 1) * dw + 1, dtype=torch.float64)
    per_group = c_out // layer.groups
    for g in range(layer.groups):
        rows = slice(g * per_group, (g + 1) * per_group)
        full[rows, g * c_in_g:(g + 1) * c_in_g, ::dh, ::dw] = w[rows]
    return full


def _circular_bound(layer: nn.Conv2d, shape: tuple[int, ...]) -> float:
    """σ_max of the circular convolution on the padded grid: an upper bound of the zero-padded, strided one.

    Zero padding embeds the input isometrically in that grid; cropping and striding the output
    only drop coordinates. The circular map is block-diagonalised by the 2-D DFT.
    """
    kernel = _full_dilated_kernel(layer)
    grid = (shape[-2] + 2 * layer.padding[0], shape[-1] + 2 * layer.padding[1])
    spectrum = torch.fft.fft2(kernel, s=grid).permute(2, 3, 0, 1)  # (H, W, C_out, C_in)
    return float(torch.linalg.matrix_norm(spectrum, ord=2).max())


def _conv_norm(layer: nn.Conv2d, shape: tuple[int, ...]) -> float:
    if isinstance(layer.padding, str):
        raise UnsupportedError("Lipschitz bound needs numeric conv padding, not padding='same'/'valid'")
    w = layer.weight.detach().double()
    kw = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    exact = _dense_norm(lambda v: F.conv2d(v, w, **kw), shape)
    if exact is not None:
        return exact

    def abs_adjoint(v: torch.Tensor) -> torch.Tensor:
        return _adjoint(lambda z: F.conv2d(z, w.abs(), **kw), shape)(v)

    return min(_circular_bound(layer, shape), _schur_bound(lambda v: F.conv2d(v, w.abs(), **kw), abs_adjoint, shape))


def _adjoint(op: Op, shape: tuple[int, ...]) -> Op:
    """The adjoint of a linear map: its vector-Jacobian product at any point."""
    def adjoint(v: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            z = torch.zeros(1, *shape, dtype=torch.float64, requires_grad=True)
            (g,) = torch.autograd.grad(op(z), z, v)
        return g

    return adjoint


def _pool_norm(layer: nn.Module, shape: tuple[int, ...]) -> float:
    """Average pooling is linear with non-negative weights (|A| = A): exact when small, Schur's test otherwise."""
    exact = _dense_norm(layer, shape)
    return exact if exact is not None else _schur_bound(layer, _adjoint(layer, shape), shape)


def _pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # type: ignore[return-value]


def _maxpool_norm(layer: nn.MaxPool2d) -> float:
    """√(most windows one input can fall in): ‖Δout‖² ≤ Σ_windows Σ_{i∈window} Δᵢ² ≤ count·‖Δin‖².

    Along one axis, windows holding input i start in [i − (k−1)·d, i] at multiples of the stride,
    and hold i at most once per tap, so the count is min(k, ⌈((k−1)·d + 1)/s⌉).
    """
    count = 1
    for k, s, d in zip(_pair(layer.kernel_size), _pair(layer.stride or layer.kernel_size), _pair(layer.dilation)):
        count *= min(k, math.ceil(((k - 1) * d + 1) / s))
    return math.sqrt(count)


def _slope_norm(layer: nn.Module) -> float:
    """LeakyReLU(s) and ELU(α) have slopes 1 and up to |s| (|α|): Lipschitz constant max(1, |s|)."""
    slope = layer.negative_slope if isinstance(layer, nn.LeakyReLU) else layer.alpha
    return max(1.0, abs(float(slope)))


def _layer_norm(layer: nn.Module, shape: tuple[int, ...]) -> float:
    """An upper bound on the layer's L2 Lipschitz constant at this input shape (before the round-off margin)."""
    if not library_layer(layer):
        raise UnsupportedError(f"no Lipschitz bound for layer {type(layer).__name__}: its class overrides forward() "
                               "or it has forward hooks, so it may compute something other than its base layer")
    if isinstance(layer, nn.Linear):
        return float(torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2))
    if isinstance(layer, nn.Conv2d):
        if layer.padding_mode != "zeros":
            raise UnsupportedError("Lipschitz bound supports zero-padded convolutions only")
        return _conv_norm(layer, shape)
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        # lipschitz() runs in eval mode: batch norm is the affine map of its running statistics.
        scale = (layer.weight.detach() if layer.affine else 1.0) / torch.sqrt(layer.running_var + layer.eps)
        return float(torch.as_tensor(scale).abs().max())
    if isinstance(layer, Normalize):
        return float((1.0 / layer.std).abs().max())
    if isinstance(layer, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return _pool_norm(layer, shape)
    if isinstance(layer, nn.MaxPool2d):
        return _maxpool_norm(layer)
    if isinstance(layer, (nn.LeakyReLU, nn.ELU)):
        return _slope_norm(layer)
    if isinstance(layer, nn.Sigmoid):
        return 0.25
    if isinstance(layer, _ONE_LIPSCHITZ):
        return 1.0
    if type(layer).__name__ == "Float64":
        return 1.0
    raise UnsupportedError(f"no Lipschitz bound for layer {type(layer).__name__}")


def _leaves(module: nn.Module) -> list[tuple[str, nn.Module]]:
    if isinstance(module, nn.Sequential) and library_layer(module):
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
    check_module(net)
    if device_and_dtype(net)[0].type != "cpu":
        net = copy.deepcopy(net).cpu()  # the bound is a property of the weights; compute it where the probes are
    x = torch.zeros(1, *input_shape, dtype=torch.float64)
    layers: list[tuple[str, float]] = []
    with eval_mode(net):
        for name, layer in _leaves(net):
            sigma = _layer_norm(layer, tuple(x.shape[1:])) * (1 + ROUNDOFF)
            # Weights are finite (check_module), so a NaN norm is an overflow inside the SVD: no finite bound.
            layers.append((name or type(layer).__name__, math.inf if math.isnan(sigma) else sigma))
            with torch.no_grad():
                x = _forward_double(layer, x)
    norms = [s for _, s in layers]
    # A zero layer makes the network constant, even after a layer whose norm overflowed to ∞ (∞·0 is NaN).
    return LipschitzBound(0.0 if 0.0 in norms else math.prod(norms), layers)


def _forward_double(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Shape tracking only: run the layer on a zero probe in its own dtype."""
    dtype = next((p.dtype for p in layer.parameters()), None) or next((b.dtype for b in layer.buffers()), x.dtype)
    out = layer(x.to(dtype) if type(layer).__name__ != "Float64" else x)
    return out.double()
