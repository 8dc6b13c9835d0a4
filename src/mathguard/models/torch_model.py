"""Torch modules behind the model protocol, with optional input normalisation."""

from __future__ import annotations

from contextlib import contextmanager
from itertools import chain
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from mathguard.errors import InputError, MathguardError, ModelError
from mathguard.models.base import (Classifier, as_tensor, check_bounds, check_input_shape, check_normalisation,
                                   check_output)


def device_and_dtype(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where the module's weights live and their float dtype: inputs must follow them (CUDA models).

    Asked on every forward pass, so it stops at the first float tensor instead of listing them all.
    """
    first = next((t for t in chain(module.parameters(), module.buffers()) if torch.is_floating_point(t)), None)
    return (torch.device("cpu"), torch.float32) if first is None else (first.device, first.dtype)


def check_module(model: Any) -> nn.Module:
    """A torch module with finite weights: NaN weights have no spectrum and no sound bound."""
    if not isinstance(model, nn.Module):
        raise InputError(f"expected a torch nn.Module, got {type(model).__name__}")
    bad = [name or "(model)" for name, p in model.named_parameters() if not torch.isfinite(p.detach()).all()]
    if bad:
        raise ModelError(f"parameter(s) {bad[:5]} hold NaN or Inf: training has already diverged")
    return model


#: Classes whose layers a bound may know: torch's own and mathguard's (Normalize, the twins' cast).
_LIBRARIES = ("torch.nn.", "mathguard.")


def library_layer(module: nn.Module) -> bool:
    """Whether ``module`` computes exactly what its library class does: that class's forward, no hooks.

    A subclass that overrides ``forward`` (a residual block written as an ``nn.Sequential``
    subclass, a Linear that rescales its output) or a module with forward hooks computes
    something else; a bound that trusts its class would be unsound, so bounds refuse it.
    """
    cls = type(module)
    base = next(c for c in cls.__mro__ if c.__module__.startswith(_LIBRARIES))
    if cls.forward is not base.forward:
        return False
    hooks = (module._forward_hooks, module._forward_pre_hooks, nn.modules.module._global_forward_hooks,
             nn.modules.module._global_forward_pre_hooks)
    return not any(hooks)


def torch_roots(model: "Classifier | nn.Module | None") -> list[nn.Module]:
    """Every torch module behind ``model``: its own, or those of its parts (ensemble members, ...)."""
    if model is None:
        return []
    if isinstance(model, nn.Module):
        return [model]
    if model.module is not None:
        return [model.module]
    return [root for part in model.parts for root in torch_roots(part)]


@contextmanager
def eval_mode(model: "Classifier | nn.Module | None") -> Iterator[None]:
    """Run with dropout off and batch norm on running statistics, then restore each layer's own mode.

    Attacks, smoothing, bounds and detectors are statements about the deployed (eval-mode)
    model; a train-mode forward is random and couples the samples of a batch. The one helper
    for every model kind: a torch module, a wrapped classifier, or one built from parts
    (an ensemble's members are each put in eval mode).
    """
    roots = torch_roots(model)
    modes = {m: m.training for root in roots for m in root.modules()}
    for root in roots:
        root.eval()
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training


def forward(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)``, with the user's model failing (a shape mismatch, say) reported as a one-line ModelError."""
    try:
        out = module(x)
    except MathguardError:
        raise
    except Exception as exc:  # any failure inside the user's forward is a model problem, not ours
        raise ModelError(f"the torch model failed on a batch of shape {tuple(x.shape)}: "
                         f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if not isinstance(out, torch.Tensor):
        raise ModelError(f"the torch model returned {type(out).__name__}, not a tensor of logits")
    return out


class Normalize(nn.Module):
    """(x - mean) / std per channel, as a layer, so attacks and bounds live in raw input space."""

    def __init__(self, mean: "float | Sequence[float] | torch.Tensor", std: "float | Sequence[float] | torch.Tensor",
                 input_shape: tuple[int, ...]) -> None:
        super().__init__()
        checked = check_normalisation(mean, std)
        assert checked is not None  # both given: the constructor's contract
        m, s = (torch.as_tensor(v, dtype=torch.float32) for v in checked)
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
        self.input_shape = check_input_shape(input_shape)
        self.n_classes = int(n_classes)
        if self.n_classes < 2:
            raise ModelError(f"a classifier needs at least 2 classes, got {n_classes}")
        self.bounds = check_bounds(bounds)
        check_normalisation(mean, std)
        self.normalize = None if mean is None else Normalize(mean, std, self.input_shape)
        self._module = net if self.normalize is None else nn.Sequential(self.normalize, net)

    @property
    def module(self) -> nn.Module:
        return self._module

    def logits(self, x: Any) -> torch.Tensor:
        """Inputs go to the weights' device and dtype; logits come back validated, on the input's device."""
        xt = as_tensor(x)
        if xt.ndim == 0:
            raise InputError("logits() needs a batch of inputs, got a scalar")
        device, dtype = device_and_dtype(self._module)
        if self.normalize is not None and device != self.normalize.mean.device:
            self.normalize.to(device)  # the user moved the net after wrapping it
        out = forward(self._module, xt.to(device=device, dtype=dtype))
        bad = int((~torch.isfinite(out).all(dim=1)).sum()) if out.ndim == 2 else 0
        check_output(tuple(out.shape), bad, len(xt), self.n_classes, "the torch model")
        return out.to(xt.device)
