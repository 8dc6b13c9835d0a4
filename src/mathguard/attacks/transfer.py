"""Transfer attacks: craft on a surrogate you can differentiate, score on the target you cannot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mathguard.attacks.base import Attack
from mathguard.errors import InputError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode
from mathguard.models.wrap import as_classifier
from mathguard.params import Budgets, declare


@dataclass
class TransferResult:
    """Per budget: how often the surrogate was fooled, the target was fooled, and the transfer rate.

    ``transfer_rate`` counts only inputs the target classified correctly and the surrogate's
    adversarial fooled the surrogate: of those, the fraction that also fool the target.
    """

    eps: tuple[float, ...]
    surrogate_success: dict[float, float]
    target_success: dict[float, float]
    transfer_rate: dict[float, float]
    adversarial: torch.Tensor
    target_queries: int


@declare(eps=Budgets())
def transfer(surrogate: Any, target: Any, x: Any, y: Any, *, attack: Attack, eps: Any,
             **model_options: Any) -> TransferResult:
    """Run ``attack`` on ``surrogate`` and evaluate its adversarial inputs on ``target`` (one query each)."""
    s: Classifier = as_classifier(surrogate, "surrogate", **model_options)
    t: Classifier = as_classifier(target, "target", **model_options)
    if s.input_shape != t.input_shape or s.n_classes != t.n_classes:
        raise InputError("surrogate and target must share the input shape and the number of classes")
    xt = t.as_input(x)
    yt = t.as_labels(y, len(xt))
    res = attack(s, xt, yt, eps=eps)
    with eval_mode(t):
        target_clean = t.predict(xt) == yt
        fooled = [t.predict(adv) != yt for adv in res.adversarial]
    surrogate_success, target_success, rate = {}, {}, {}
    for i, e in enumerate(res.eps):
        fooled_t = fooled[i]
        usable = res.success[i] & target_clean
        surrogate_success[e] = float(res.success[i].float().mean())
        target_success[e] = float(fooled_t.float().mean())
        rate[e] = float(fooled_t[usable].float().mean()) if usable.any() else float("nan")
    return TransferResult(res.eps, surrogate_success, target_success, rate, res.adversarial,
                          target_queries=len(xt) * (len(res.eps) + 1))
