"""Interval bound propagation: sound elementwise bounds on a network's outputs over an L∞ ball.

Each layer maps a box [l, u] to a box that contains the image of every point in it;
affine layers use the centre/radius form (μ' = Wμ + b, r' = |W|r), monotone layers map
the end points. The final linear layer is folded into the margins logit_y − logit_j, which
is tighter than subtracting the two logit intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from mathguard.errors import InputError, ModelError, UnsupportedError
from mathguard.models.base import Classifier, as_tensor, check_bounds
from mathguard.models.torch_model import Normalize, check_module, device_and_dtype, eval_mode, library_layer
from mathguard.report import Report
from mathguard.params import NON_NEGATIVE, declare

Box = tuple[torch.Tensor, torch.Tensor]


def _affine(lower: torch.Tensor, upper: torch.Tensor, linear: Callable[[torch.Tensor], torch.Tensor],
            abs_linear: Callable[[torch.Tensor], torch.Tensor]) -> Box:
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    m, r = linear(mid), abs_linear(rad)
    return m - r, m + r


def _linear(layer: nn.Linear, box: Box) -> Box:
    w = layer.weight
    return _affine(*box, lambda t: F.linear(t, w, layer.bias), lambda t: F.linear(t, w.abs()))


def _conv(layer: nn.Conv2d, box: Box) -> Box:
    if layer.padding_mode != "zeros":
        raise UnsupportedError(f"IBP supports zero-padded convolutions only, got padding_mode={layer.padding_mode!r}")
    kw = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    return _affine(*box, lambda t: F.conv2d(t, layer.weight, layer.bias, **kw),
                   lambda t: F.conv2d(t, layer.weight.abs(), None, **kw))


def _batchnorm(layer: nn.modules.batchnorm._BatchNorm, box: Box) -> Box:
    # ibp() runs in eval mode: the running statistics make batch norm a fixed affine map.
    scale = (layer.weight if layer.affine else 1.0) / torch.sqrt(layer.running_var + layer.eps)
    shift = (layer.bias if layer.affine else 0.0) - layer.running_mean * scale
    shape = (1, -1) + (1,) * (box[0].ndim - 2)
    s, t = scale.reshape(shape), shift.reshape(shape)
    return _affine(*box, lambda v: v * s + t, lambda v: v * s.abs())


def _normalize(layer: Normalize, box: Box) -> Box:
    # (x − m)/s with s > 0 is increasing: map the end points.
    return layer(box[0]), layer(box[1])


# Dropout is the identity in eval mode, which ibp() switches to.
_MONOTONE = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.MaxPool2d, nn.MaxPool1d, nn.Flatten, nn.Identity,
             nn.modules.dropout._DropoutNd, nn.Hardtanh, nn.ReLU6)


def _negative_slope(layer: nn.Module) -> float:
    """Slope parameter on x < 0 (LeakyReLU's slope, ELU's α): the sign decides monotonicity."""
    return float(layer.negative_slope if isinstance(layer, nn.LeakyReLU) else layer.alpha)


def _valley(layer: nn.Module, box: Box) -> Box:
    """LeakyReLU / ELU: increasing for a slope ≥ 0; for a negative one, decreasing below 0 and increasing above.

    A negative slope makes the map a valley: the maximum over [l, u] is at an end point, the
    minimum at the point of [l, u] closest to 0. Mapping the end points would be unsound there.
    """
    lower, upper = box
    if _negative_slope(layer) >= 0:
        return layer(lower), layer(upper)
    return layer(torch.clamp(torch.zeros_like(lower), lower, upper)), torch.maximum(layer(lower), layer(upper))


def _propagate(module: nn.Module, box: Box) -> Box:
    if not library_layer(module):
        raise UnsupportedError(
            f"IBP cannot bound layer {type(module).__name__}: its class overrides forward() or it has forward "
            "hooks, so it may compute something other than the layer it derives from")
    if isinstance(module, nn.Sequential):
        for child in module:
            box = _propagate(child, box)
        return box
    if isinstance(module, nn.Linear):
        return _linear(module, box)
    if isinstance(module, nn.Conv2d):
        return _conv(module, box)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return _batchnorm(module, box)
    if isinstance(module, (nn.AvgPool2d, nn.AvgPool1d, nn.AdaptiveAvgPool2d)):
        # Average pooling is linear with non-negative weights: |W| = W.
        return _affine(*box, module, module)
    if isinstance(module, Normalize):
        return _normalize(module, box)
    if isinstance(module, (nn.LeakyReLU, nn.ELU)):
        return _valley(module, box)
    if isinstance(module, _MONOTONE):
        # Elementwise non-decreasing (or a reshape / max, which is monotone in each input).
        return module(box[0]), module(box[1])
    if type(module).__name__ == "Float64":  # the dtype cast that opens sklearn twins
        return box[0].double(), box[1].double()
    raise UnsupportedError(
        f"IBP does not support layer {type(module).__name__}; supported: Linear, Conv2d, BatchNorm (eval), "
        "AvgPool, MaxPool, ReLU and other monotone activations, Flatten, Normalize, Sequential"
    )


def _split_last_linear(module: nn.Module) -> tuple[nn.Module, nn.Linear | None]:
    """(everything before the final Linear, that Linear), looking into nested Sequentials (Normalize, net)."""
    if not (isinstance(module, nn.Sequential) and library_layer(module) and len(module)):
        return module, None
    last = module[-1]
    if isinstance(last, nn.Linear) and library_layer(last):
        return module[:-1], last
    body, head = _split_last_linear(last)
    return (nn.Sequential(*module[:-1], body), head) if head is not None else (module, None)


@dataclass
class IntervalBounds:
    """Bounds valid for every input in the ball: lower ≤ logits ≤ upper, and margins ≥ margin_lower."""

    lower: torch.Tensor
    upper: torch.Tensor
    eps: float
    margin_lower: torch.Tensor | None = None  # (N, C): lower bound of logit_y − logit_j (0 at j = y)
    labels: torch.Tensor | None = None

    @property
    def verified(self) -> torch.Tensor:
        """(N,) True where the true class provably wins against every other class in the ball."""
        if self.margin_lower is None or self.labels is None:
            raise InputError("verification needs labels: pass y to ibp()")
        m = self.margin_lower.clone()
        m.scatter_(1, self.labels.unsqueeze(1), float("inf"))
        return (m > 0).all(dim=1)

    @property
    def verified_accuracy(self) -> float:
        return float(self.verified.float().mean())

    def report(self) -> Report:
        """Verified accuracy in the eps-ball (needs labels) and how loose the logit bounds are."""
        width = (self.upper - self.lower).detach().double()
        metrics = {"eps": self.eps, "mean_logit_width": float(width.mean()), "samples": len(self.lower)}
        if self.labels is not None and self.margin_lower is not None:
            metrics["verified_accuracy"] = self.verified_accuracy
        summary = (f"Interval bound propagation at L∞ eps={self.eps:g}: " +
                   (f"{metrics['verified_accuracy']:.1%} of inputs provably keep their label."
                    if "verified_accuracy" in metrics else "logit bounds only (pass y to verify labels)."))
        return Report(title="Interval bounds (IBP)", summary=summary, metrics=metrics)

    def to_cpu(self) -> "IntervalBounds":
        """The same bounds on the CPU, whatever device the network ran on."""
        def cpu(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.cpu()

        return IntervalBounds(self.lower.cpu(), self.upper.cpu(), self.eps, cpu(self.margin_lower), cpu(self.labels))


def input_box(x: torch.Tensor, eps: float, bounds: tuple[float, float] | None) -> Box:
    lower, upper = x - eps, x + eps
    if bounds is not None:
        lower, upper = lower.clamp(*bounds), upper.clamp(*bounds)
    return lower, upper



@declare(eps=NON_NEGATIVE)
def ibp(model: Any, x: Any, y: Any = None, *, eps: float, bounds: tuple[float, float] | None = None
        ) -> IntervalBounds:
    """Propagate the L∞ ball of radius ``eps`` around each input (intersected with the input bounds).

    ``model`` is a Classifier with a torch module or an ``nn.Module``; for a Classifier its
    normalisation and bounds are used. ``y`` (optional) lets the result say which inputs are
    verified. The bounds stay torch tensors: they are differentiable, and IBP training
    (:func:`mathguard.defend.ibp_training`) backpropagates through them.
    """
    eps = float(eps)
    if isinstance(model, Classifier):
        if model.module is None:
            raise UnsupportedError("IBP needs the model's layers; a black-box classifier has none")
        net, bounds = model.module, bounds if bounds is not None else model.bounds
        xt = model.as_input(x)
    elif isinstance(model, nn.Module):
        net, xt = model, as_tensor(x).to(torch.float32)
    else:
        raise UnsupportedError(f"IBP needs a torch module or a Classifier, got {type(model).__name__}")
    if not torch.isfinite(xt).all():
        raise InputError("input contains NaN or Inf values")
    bounds = check_bounds(bounds)
    device, _ = device_and_dtype(check_module(net))
    with eval_mode(net):
        result = _bounds(net, xt.to(device), eps, y, bounds)
    return result.to_cpu()


def _labels(y: Any, n: int, n_classes: int, device: torch.device) -> torch.Tensor:
    """n integer labels in [0, n_classes), on the network's device."""
    labels = as_tensor(y).to(device).reshape(-1)
    integral = not torch.is_floating_point(labels) or torch.equal(labels, labels.round())
    if len(labels) != n or not integral or (n and (labels.min() < 0 or labels.max() >= n_classes)):
        raise InputError(f"labels must be {n} integers in [0, {n_classes})")
    return labels.long()


def _bounds(net: nn.Module, xt: torch.Tensor, eps: float, y: Any, bounds: tuple[float, float] | None
            ) -> IntervalBounds:
    body, head = _split_last_linear(net)
    lower, upper = _propagate(body, input_box(xt, eps, bounds))
    if head is not None:
        lower, upper = lower.to(head.weight.dtype), upper.to(head.weight.dtype)
    out_l, out_u = _linear(head, (lower, upper)) if head is not None else (lower, upper)
    if not (torch.isfinite(out_l).all() and torch.isfinite(out_u).all()):
        raise ModelError("interval bounds are not finite: the network's activations overflow on this box")
    if out_l.ndim != 2 or out_l.shape[0] != len(xt):
        raise ModelError(f"the network maps {len(xt)} inputs to shape {tuple(out_l.shape)}, expected (N, classes)")
    if y is None:
        return IntervalBounds(out_l, out_u, eps)
    labels = _labels(y, len(xt), out_l.shape[1], xt.device)
    if head is None:
        return IntervalBounds(out_l, out_u, eps, out_l.gather(1, labels.unsqueeze(1)) - out_u, labels)
    # (W_y − W_j)·h + (b_y − b_j) bounded over the box of h: exact for this last affine map.
    w_diff = head.weight[labels].unsqueeze(1) - head.weight.unsqueeze(0)  # (N, C, H)
    b_diff = (head.bias[labels].unsqueeze(1) - head.bias.unsqueeze(0)) if head.bias is not None else 0.0
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    margin = torch.einsum("nch,nh->nc", w_diff, mid) - torch.einsum("nch,nh->nc", w_diff.abs(), rad) + b_diff
    return IntervalBounds(out_l, out_u, eps, margin, labels)
