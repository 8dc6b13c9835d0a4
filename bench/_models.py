"""The digits data and CNNs that several bench scripts attack, certify or guard, built one way for all."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn


def digits_split(n_test: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits as (N, 1, 8, 8) in [0, 1]: 1200 seeded training images and ``n_test`` test images."""
    torch.manual_seed(0)
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x))
    tr, te = perm[:1200], perm[1200:1200 + n_test]
    return x[tr], y[tr], x[te], y[te]


def digits_cnn() -> nn.Module:
    """The CNN for 1×8×8 digits that the attack benches train."""
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, 10))


def train(x: torch.Tensor, y: torch.Tensor, adversarial_eps: float = 0.0, epochs: int = 8) -> nn.Module:
    """A seeded digits CNN, FGSM-trained when ``adversarial_eps`` > 0 (so fewer points fall early)."""
    torch.manual_seed(0)
    net = digits_cnn()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        for i in torch.randperm(len(x)).split(64):
            xb, yb = x[i], y[i]
            if adversarial_eps:
                xb = xb.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(nn.functional.cross_entropy(net(xb), yb), xb)
                xb = (xb + adversarial_eps * g.sign()).clamp(0, 1).detach()
            opt.zero_grad()
            nn.functional.cross_entropy(net(xb), yb).backward()
            opt.step()
    return net.eval()


def mnist_cnn() -> nn.Module:
    """A seeded, untrained CNN for 1×28×28 inputs: the model the detector and guard benches score."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
