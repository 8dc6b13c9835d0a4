"""Exact minimal perturbations for linear classifiers — the ground truth for DeepFool and CW.

For logits z = W x + b the set where class j beats the true class y is the half-space
(w_j − w_y)·δ ≥ z_y − z_j; its distance from δ = 0 is (z_y − z_j)/‖w_y − w_j‖_* with the
dual norm (‖·‖₂ for L2, ‖·‖₁ for Linf). The minimal perturbation is the min over j ≠ y.
Input bounds are ignored: this is the distance in the unbounded input space.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mathguard.errors import InputError, UnsupportedError
from mathguard.models.base import Classifier
from mathguard.params import NORM, declare


@declare(norm=NORM)
def minimal_perturbation(W: Any, b: Any, x: Any, y: Any, *, norm: str = "l2") -> torch.Tensor:
    """(N,) exact minimal ``norm`` distance of each x to a decision boundary of W x + b.

    W: (C, d), b: (C,), x: (N, d), y: (N,) true labels. A sample already misclassified
    gets 0. Binary models with a single row (sign(w·x + b)) are treated as C = 2 with rows
    (0, w). Computed in float64.
    """
    W = torch.as_tensor(np.asarray(W), dtype=torch.float64)
    b = torch.as_tensor(np.asarray(b), dtype=torch.float64).reshape(-1)
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(y)).long()
    if W.ndim != 2 or b.shape != (W.shape[0],):
        raise InputError(f"W must be (C, d) and b (C,), got {tuple(W.shape)} and {tuple(b.shape)}")
    if W.shape[0] == 1:
        W, b = torch.cat([torch.zeros_like(W), W]), torch.cat([torch.zeros_like(b), b])
    x = x.reshape(len(x), -1)
    if x.shape[1] != W.shape[1]:
        raise InputError(f"x has {x.shape[1]} features, W expects {W.shape[1]}")
    if y.shape != (len(x),) or (len(y) and (y.min() < 0 or y.max() >= W.shape[0])):
        raise InputError(f"y must hold {len(x)} labels in [0, {W.shape[0]})")
    z = x @ W.T + b
    gap = z.gather(1, y[:, None]) - z                       # (N, C): z_y − z_j
    dw = W[y][:, None, :] - W[None, :, :]                   # (N, C, d): w_y − w_j
    dual = dw.norm(dim=2) if norm == "l2" else dw.abs().sum(dim=2)
    dist = gap / dual
    dist.scatter_(1, y[:, None], float("inf"))
    return dist.min(dim=1).values.clamp_min(0.0)


def linear_weights(clf: Classifier) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) of a linear classifier: a twin's ``linear_weights`` or a single nn.Linear module."""
    weights = getattr(clf, "linear_weights", None)
    if weights is not None:
        W, b = weights() if callable(weights) else weights
        return torch.as_tensor(W), torch.as_tensor(b)
    module = clf.module
    if isinstance(module, torch.nn.Linear):
        bias = module.bias if module.bias is not None else torch.zeros(module.out_features)
        return module.weight.detach(), bias.detach()
    raise UnsupportedError("this model is not linear (no linear_weights and not a single nn.Linear)")


@declare(norm=NORM)
def classifier_minimal_perturbation(clf: Classifier, x: Any, y: Any, *, norm: str = "l2") -> torch.Tensor:
    """:func:`minimal_perturbation` for a wrapped linear classifier."""
    xt = clf.as_input(x)
    W, b = linear_weights(clf)
    return minimal_perturbation(W, b, xt.reshape(len(xt), -1), clf.as_labels(y, len(xt)), norm=norm)
