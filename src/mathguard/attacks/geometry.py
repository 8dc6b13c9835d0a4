"""The geometry every gradient attack shares: per-sample norms, projection onto the eps-ball, steps and margins.

Kept apart from the ``Attack`` base so that the constraint helpers (``constraints``) and the
attacks import it without importing each other.
"""

from __future__ import annotations

import math

import torch


def lp_norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample norm of a batch of perturbations."""
    flat = delta.flatten(1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


def per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-sample vector (N,) shaped to broadcast against the batch ``like`` (N, ...)."""
    return v.view(-1, *([1] * (like.ndim - 1)))


def project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """Nearest point of the eps-ball (per-sample ``eps``) to ``delta``."""
    e = per_sample(eps, delta)
    if norm == "linf":
        return torch.max(torch.min(delta, e), -e)
    n = per_sample(lp_norm(delta, "l2"), delta)
    return delta * torch.clamp(e / n.clamp_min(1e-12), max=1.0)


def clip_bounds(x: torch.Tensor, bounds: tuple[float, float] | None) -> torch.Tensor:
    return x if bounds is None else x.clamp(bounds[0], bounds[1])


def normalized_step(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest-ascent direction of unit norm: sign for Linf, g/‖g‖₂ for L2."""
    if norm == "linf":
        return grad.sign()
    return grad / per_sample(lp_norm(grad, "l2").clamp_min(1e-12), grad)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y − max_{j≠y} z_j: negative exactly when the sample is misclassified."""
    zy = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.clone()
    other.scatter_(1, y[:, None], -math.inf)
    return zy - other.amax(dim=1)


def loss_gradient(loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """∇_z of the summed per-sample loss; rows where it vanished get the gradient of −margin instead.

    A softmax saturated at float precision (a confident model, or a random start far out
    on features of tiny spread) gives cross-entropy an exactly zero gradient, which stalls
    the attack while the margin still points the way. Rows with a gradient are untouched.
    """
    (g,) = torch.autograd.grad(loss.sum(), z, retain_graph=True)
    dead = g.flatten(1).abs().amax(dim=1) == 0
    if dead.any():
        (gm,) = torch.autograd.grad(-margin(logits, y)[dead].sum(), z)
        g = torch.where(per_sample(dead, g), gm, g)
    return g
