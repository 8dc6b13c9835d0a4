"""One forward pass, many detectors: logits and the features every detector asked for.

Feature-based detectors read intermediate layers. They name them as in the user's own
``model.named_modules()``; ``"penultimate"`` is the input of the last ``nn.Linear`` (the
usual feature space of Mahalanobis and KNN) and ``"input"`` is the raw input itself,
which works for any classifier (tabular detectors need no network). Forward hooks
capture every requested layer during the same pass that produces the logits, so five
detectors cost one forward, not five.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

from mathguard.errors import InputError, ModelError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import TorchClassifier, eval_mode

INPUT, PENULTIMATE = "input", "penultimate"


@dataclass
class Forward:
    """What one pass over a batch produced: inputs, logits and flattened (N, d) features by layer."""

    x: torch.Tensor
    logits: torch.Tensor
    features: dict[str, torch.Tensor] = field(default_factory=dict)


def named_layers(clf: Classifier) -> dict[str, nn.Module]:
    """The layers a user can name: those of their own network (normalisation excluded)."""
    net = clf.net if isinstance(clf, TorchClassifier) else clf.module
    return dict(net.named_modules()) if net is not None else {}


def _last_linear(layers: dict[str, nn.Module]) -> nn.Module:
    linear = [m for m in layers.values() if isinstance(m, nn.Linear)]
    if not linear:
        raise ModelError("layer 'penultimate' is the input of the last nn.Linear, and this model has none; "
                         "name a layer or use layer='input'")
    return linear[-1]


def check_layer(clf: Classifier, layer: str) -> str:
    """Refuse a layer the model does not have, listing the ones it has."""
    if layer == INPUT:
        return layer
    layers = named_layers(clf)
    if not layers:
        raise ModelError(f"this {clf.kind} model exposes no layers; only layer='input' works for it")
    if layer == PENULTIMATE:
        _last_linear(layers)
        return layer
    if layer not in layers or layer == "":
        names = ", ".join(repr(n) for n in layers if n) or "none"
        raise InputError(f"the model has no layer {layer!r}; its layers are: {names} (or 'penultimate', 'input')")
    return layer


def check_logits(logits: torch.Tensor, n: int, n_classes: int) -> torch.Tensor:
    """A model answer usable by a detector: (N, C) and finite, else a ModelError naming the cause."""
    if logits.ndim != 2 or logits.shape != (n, n_classes):
        raise ModelError(f"the model returned shape {tuple(logits.shape)} for {n} inputs; expected ({n}, {n_classes})")
    if not torch.isfinite(logits).all():
        raise ModelError("the model returned NaN or Inf logits")
    return logits


def forward(clf: Classifier, x: torch.Tensor, layers: "set[str] | frozenset[str]" = frozenset()) -> Forward:
    """Run ``clf`` once on ``x`` and capture ``layers`` (names, 'penultimate' or 'input').

    Gradients flow when the caller enables them (the adaptive attack does); hooks are
    removed even if the model raises.
    """
    captured: dict[str, torch.Tensor] = {}
    handles = []
    named = named_layers(clf) if layers - {INPUT} else {}
    for name in layers - {INPUT}:
        if name == PENULTIMATE:
            def pre(_m: nn.Module, inp: tuple[torch.Tensor, ...], key: str = name) -> None:
                captured[key] = inp[0]
            handles.append(_last_linear(named).register_forward_pre_hook(pre))
        else:
            def post(_m: nn.Module, _inp: object, out: torch.Tensor, key: str = name) -> None:
                captured[key] = out
            handles.append(named[name].register_forward_hook(post))
    try:
        logits = check_logits(clf.logits(x), len(x), clf.n_classes)
    finally:
        for h in handles:
            h.remove()
    # Features leave the model's device with the logits (clf.logits returns them where the input lives).
    feats = {k: v.flatten(1).to(logits.device) for k, v in captured.items()}
    if INPUT in layers:
        feats[INPUT] = x.flatten(1)
    for name, f in feats.items():
        if not torch.isfinite(f).all():
            raise ModelError(f"layer {name!r} produced NaN or Inf activations")
    return Forward(x=x, logits=logits, features=feats)


def forward_batches(clf: Classifier, x: torch.Tensor, *layers: str, size: int = 4096) -> Iterator[Forward]:
    """Passes over ``x`` capturing ``layers`` (none: logits only), batch by batch, in eval mode, no graph."""
    with torch.no_grad(), eval_mode(clf):
        for i in range(0, len(x), size):
            yield forward(clf, x[i:i + size], frozenset(layers))
