"""Training-time defenses: Gaussian augmentation, IBP training, PGD / TRADES adversarial training."""

from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from mathguard.certify.ibp import ibp
from mathguard.defend.loop import train
from mathguard.errors import InputError
from mathguard.params import COUNT, NON_NEGATIVE, NORM, POSITIVE, Choice, Real, declare


@declare(sigma=POSITIVE, epochs=COUNT, lr=POSITIVE)
def gaussian_augmentation(net: nn.Module, loader: Iterable, *, sigma: float, epochs: int = 10,
                          lr: float = 1e-3) -> nn.Module:
    """Train on x + N(0, σ²): the base classifier randomized smoothing needs to certify anything."""
    if not sigma > 0:
        raise InputError(f"sigma must be positive, got {sigma}")
    return train(net, loader, lambda m, x, y, _: F.cross_entropy(m(x + sigma * torch.randn_like(x)), y),
                 epochs=epochs, lr=lr)


def ibp_worst_case_logits(net: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                          bounds: tuple[float, float] | None) -> torch.Tensor:
    """Logits whose cross-entropy upper-bounds the loss anywhere in the ball: −(margin lower bounds)."""
    return -ibp(net, x, y, eps=eps, bounds=bounds).margin_lower


@declare(eps=POSITIVE, epochs=COUNT, lr=POSITIVE, warmup=Real(0, 1), ramp=Real(0, 1), kappa_end=Real(0, 1))
def ibp_training(net: nn.Module, loader: Iterable, *, eps: float, epochs: int = 20, lr: float = 1e-3,
                 warmup: float = 0.1, ramp: float = 0.5, kappa_end: float = 0.5,
                 bounds: tuple[float, float] | None = (0.0, 1.0)) -> nn.Module:
    """IBP training (Gowal et al., 2018): loss = κ·CE(clean) + (1 − κ)·CE(worst case).

    ε ramps linearly from 0 after ``warmup`` of training until ``warmup + ramp``, and κ falls
    from 1 to ``kappa_end`` over the same ramp, so the net first learns the task.
    """
    if eps <= 0:
        raise InputError(f"eps must be positive, got {eps}")

    def loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float) -> torch.Tensor:
        t = min(max((progress - warmup) / ramp, 0.0), 1.0)
        kappa = 1.0 - t * (1.0 - kappa_end)
        clean = F.cross_entropy(m(x), y)
        if t == 0.0:
            return clean
        return kappa * clean + (1 - kappa) * F.cross_entropy(ibp_worst_case_logits(m, x, y, t * eps, bounds), y)

    return train(net, loader, loss, epochs=epochs, lr=lr)


@declare(eps=POSITIVE, method=Choice(("pgd", "trades")), epochs=COUNT, lr=POSITIVE, steps=COUNT, norm=NORM,
         beta=NON_NEGATIVE)
def adversarial_training(net: nn.Module, loader: Iterable, *, eps: float, method: str = "pgd", epochs: int = 10,
                         lr: float = 1e-3, steps: int = 7, norm: str = "linf", beta: float = 6.0,
                         input_shape: tuple[int, ...] | None = None,
                         bounds: tuple[float, float] | None = (0.0, 1.0),
                         validation: tuple[Any, Any] | None = None) -> nn.Module:
    """PGD adversarial training (Madry et al.) or TRADES (Zhang et al.), inner maximisation by mathguard's PGD.

    TRADES minimises CE(clean) + β·KL(p(x) ‖ p(x')); here x' comes from PGD on the cross-entropy
    towards the clean prediction, a cheaper surrogate for the KL maximiser of the original paper.
    With ``validation=(x, y)`` the trained net is then judged by the full attack ensemble
    (:func:`mathguard.evaluate_robustness` at eps/4, eps/2, eps), because the training attack
    alone overstates robustness; the Report is attached as ``net.robustness_report``.
    """
    from mathguard.attacks import PGD
    from mathguard.models import wrap

    if method not in ("pgd", "trades"):
        raise InputError(f"method must be 'pgd' or 'trades', got {method!r}")
    if eps <= 0:
        raise InputError(f"eps must be positive, got {eps}")
    # Madry et al. maximise the loss for every step; early stopping would train on weaker points.
    attack = PGD(norm=norm, steps=steps, random_start=True, early_stop=False)

    def adversarial(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        m.eval()  # craft against the deterministic model (no dropout / batch-stat updates)
        clf = wrap(m, input_shape=input_shape or tuple(x.shape[1:]), bounds=bounds)
        target = y if method == "pgd" else clf.predict(x)
        x_adv = attack(clf, x, target, eps=eps).adversarial[0].detach()
        m.train()
        return x_adv

    def loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor, _: float) -> torch.Tensor:
        x_adv = adversarial(m, x, y)
        if method == "pgd":
            return F.cross_entropy(m(x_adv), y)
        logits = m(x)
        kl = F.kl_div(F.log_softmax(m(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
        return F.cross_entropy(logits, y) + beta * kl

    net = train(net, loader, loss, epochs=epochs, lr=lr)
    if validation is not None:
        from mathguard.robustness.evaluate import evaluate_robustness

        x_val, y_val = validation
        shape = input_shape or tuple(torch.as_tensor(x_val).shape[1:])
        net.robustness_report = evaluate_robustness(net, x_val, y_val, norm=norm, eps=[eps / 4, eps / 2, eps],
                                                    input_shape=shape, bounds=bounds)
    return net
