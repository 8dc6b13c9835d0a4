"""Universal adversarial perturbation: one delta that fools a model on most inputs of a data set.

Moosavi-Dezfooli et al. (2017) showed such perturbations exist; here it is found by
projected stochastic ascent on the batch loss (as in Shafahi et al., 2020), with a capped
margin loss so inputs already fooled stop pulling delta. The fooling rate is the share of
inputs whose predicted label changes; measure it on held-out data with :meth:`evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from mathguard.attacks.base import attack_inputs, parse_eps
from mathguard.attacks.geometry import margin, normalized_step, project
from mathguard.attacks.constraints import FeatureBox, feature_box
from mathguard.errors import InputError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode
from mathguard.validate import finite
from mathguard.params import COUNT, INT_SEED, NORM, Budgets, declare

#: Logit margin beyond which a fooled input no longer contributes to the loss.
MARGIN_CAP = 2.0


@dataclass
class UniversalResult:
    """One perturbation ``delta`` (input shape) within ``eps`` in ``norm``, and its fooling rate on the data fitted."""

    delta: torch.Tensor
    norm: str
    eps: float
    fooling_rate: float
    error_rate: float
    queries: int
    box: FeatureBox
    params: dict[str, Any] = field(default_factory=dict)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``x + delta`` projected into the allowed inputs (bounds, immutable features kept)."""
        return self.box.project(x + self.delta.to(x), x)

    def evaluate(self, clf: Classifier, x: Any, y: Any) -> dict[str, float]:
        """Fooling rate (prediction changed) and error rate (prediction ≠ y) of delta on other data."""
        xt, yt = attack_inputs(clf, x, y, "universal_perturbation", needs_gradients=False)
        clean, adv = clf.predict(xt), clf.predict(self.apply(xt))
        return {"fooling_rate": float((adv != clean).float().mean()), "error_rate": float((adv != yt).float().mean()),
                "clean_error_rate": float((clean != yt).float().mean())}


@declare(norm=NORM, eps=Budgets(), steps=COUNT, batch_size=COUNT, random_state=INT_SEED)
def universal_perturbation(clf: Classifier, x: Any, y: Any, *, norm: str = "linf", eps: float = 0.1,
                           steps: int = 200, batch_size: int = 128, step_size: float | None = None, random_state: int = 0,
                           low: Any = None, high: Any = None, mutable: Any = None) -> UniversalResult:
    """Projected sign (L∞) or normalised (L2) descent of capped margins on shared deltas over mini-batches of ``x``.

    One untargeted candidate and one per target class run in one batch; the one that changes the
    most predictions on ``x`` is returned (``params["target"]`` says which).
    """
    budgets = parse_eps(eps)
    if budgets is None or len(budgets) != 1 or budgets[0] <= 0:
        raise InputError(f"eps must be one budget > 0, got {eps!r}")
    e = budgets[0]
    steps, batch_size = int(steps), int(batch_size)
    # Default step: the ball's radius crossed ten times over the run (mini-batch gradients are noisy).
    alpha = 10 * e / steps if step_size is None else finite(step_size, "step_size", low=0, open_low=True)
    xt, yt = attack_inputs(clf, x, y, "universal_perturbation", needs_gradients=True)
    box = feature_box(clf, xt, low=low, high=high, mutable=mutable)
    gen = torch.Generator().manual_seed(random_state)
    # Candidates searched side by side: one untargeted, one pushing every input towards each class;
    # a universal direction usually points at one class, and which one is not known in advance.
    k = clf.n_classes + 1
    delta = torch.zeros(k, *xt.shape[1:], dtype=xt.dtype)
    eps_t = torch.full((k,), e, dtype=xt.dtype)
    targets = torch.arange(-1, clf.n_classes)
    with eval_mode(clf):
        for _ in range(steps):
            idx = torch.randperm(len(xt), generator=gen)[:batch_size]
            xb = xt[idx].unsqueeze(0).expand(k, *xt[idx].shape).reshape(-1, *xt.shape[1:])
            d = delta.clone().requires_grad_(True)
            dd = d.unsqueeze(1).expand(k, len(idx), *xt.shape[1:]).reshape_as(xb)
            logits = clf.logits(box.project(xb + dd, xb))
            tgt = targets.repeat_interleave(len(idx))
            yb = yt[idx].repeat(k)
            # Capped margins (fooled inputs stop pulling): z_y - max_other untargeted, max_other - z_t targeted.
            own = margin(logits, torch.where(tgt < 0, yb, tgt))
            loss = torch.where(tgt < 0, own, -own).clamp_min(-MARGIN_CAP).sum()
            (grad,) = torch.autograd.grad(loss, d)
            delta = box.mask(project(delta - alpha * normalized_step(grad, norm), eps_t, norm))
        with torch.no_grad():
            clean = clf.predict(xt)
            rates = torch.stack([(clf.predict(box.project(xt + dk, xt)) != clean).float().mean() for dk in delta])
        best = int(rates.argmax())
        delta = delta[best:best + 1]
        result = UniversalResult(delta[0].detach(), norm, e, 0.0, 0.0,
                                 queries=-(-steps * k * min(batch_size, len(xt)) // len(xt)) + k, box=box,
                                 params={"steps": steps, "batch_size": batch_size, "step_size": alpha, "random_state": random_state,
                                         "target": None if best == 0 else best - 1})
        rates = result.evaluate(clf, xt, yt)
    result.fooling_rate, result.error_rate = rates["fooling_rate"], rates["error_rate"]
    return result
