"""Small, seeded models on digits scaled to [0, 1] (what torchattacks expects)."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import mathguard as mg
from mathguard.demo.modalities import fit


@pytest.fixture(scope="session")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_digits()
    return torch.tensor(d.data / 16.0, dtype=torch.float32), torch.tensor(d.target)


@pytest.fixture(scope="session")
def mlp(digits) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    return fit(net, *digits, steps=60)


@pytest.fixture(scope="session")
def clf(mlp):
    return mg.wrap(mlp, input_shape=(64,), bounds=(0.0, 1.0))


@pytest.fixture(scope="session")
def linear_clf(digits):
    """A linear model without bounds, where minimal perturbations are known exactly."""
    torch.manual_seed(0)
    net = fit(nn.Linear(64, 10), *digits, steps=40)
    return mg.wrap(net, input_shape=(64,))


@pytest.fixture(scope="session")
def batch(digits, clf):
    x, y = digits
    x, y = x[:64], y[:64]
    keep = clf.predict(x) == y
    return x[keep][:40], y[keep][:40]


@pytest.fixture(scope="session")
def demo_digits():
    """The demo CNN (quick training) with its train/test digit images as tensors."""
    from mathguard.demo.context import DemoContext

    ctx = DemoContext(quick=True)
    (xtr, xte), dg = ctx.digits_images, ctx.digits
    return ctx.classifier, *(torch.as_tensor(a) for a in (xtr, dg.y_train, xte, dg.y_test))
