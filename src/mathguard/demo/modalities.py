"""Demo data beyond images: synthetic tones for a 1-D signal classifier, and a small loan table.

Both are generated and trained on the spot (about a second each on a 2-core CPU), so the
adversary section can attack a signal model (perturbation read as SNR in dB) and a tabular
model with an immutable feature, per-feature bounds and a one-hot categorical group.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Tone classes: fundamental frequencies in cycles per signal (each tone adds its octave at half amplitude).
FREQS = (3.0, 5.0, 8.0, 12.0)
LENGTH = 128
#: Loan table columns: three mutable amounts, an immutable age, then the one-hot housing group.
LOAN_COLUMNS = ("income", "debt", "savings", "age", "housing=rent", "housing=own", "housing=mortgage")
IMMUTABLE = (3,)
HOUSING = (4, 5, 6)
#: Per-feature bounds of the loan table: amounts within 3 standard deviations, age scaled to [-1, 1].
LOW = (-3.0, -3.0, -3.0, -1.0, 0.0, 0.0, 0.0)
HIGH = (3.0, 3.0, 3.0, 1.0, 1.0, 1.0, 1.0)


def tones(n: int, *, seed: int = 0, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, LENGTH) noisy sums of two sinusoids (a class's tone and its octave), random phases and gains."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(len(FREQS), (n,), generator=gen)
    t = torch.arange(LENGTH) / LENGTH
    f = torch.tensor(FREQS)[y, None]
    phase = torch.rand(n, 2, generator=gen) * 2 * math.pi
    gain = 0.5 + torch.rand(n, 1, generator=gen)
    x = gain * (torch.sin(2 * math.pi * f * t + phase[:, :1]) + 0.5 * torch.sin(4 * math.pi * f * t + phase[:, 1:]))
    x = x + noise * torch.randn(n, LENGTH, generator=gen)
    return x.unsqueeze(1).float(), y


def tone_net() -> nn.Module:
    """A tiny 1-D CNN: two convolutions, global average pooling, one linear layer."""
    return nn.Sequential(nn.Conv1d(1, 8, 9, padding=4), nn.ReLU(), nn.MaxPool1d(4),
                         nn.Conv1d(8, 16, 9, padding=4), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                         nn.Linear(16, len(FREQS)))


def loans(n: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 7) standardised amounts, age, one-hot housing; approved when a score (housing weighs most) is positive."""
    gen = torch.Generator().manual_seed(seed)
    amounts = torch.randn(n, 3, generator=gen).clamp(-3, 3)
    age = torch.rand(n, 1, generator=gen) * 2 - 1
    housing = torch.randint(3, (n,), generator=gen)
    onehot = torch.nn.functional.one_hot(housing, 3).float()
    score = (amounts[:, 0] - amounts[:, 1] + 0.5 * amounts[:, 2] + 0.5 * age[:, 0]
             + torch.tensor([-1.5, 1.0, 0.5])[housing] + 0.3 * torch.randn(n, generator=gen))
    return torch.cat([amounts, age, onehot], 1), (score > 0).long()


def loan_net() -> nn.Module:
    return nn.Sequential(nn.Linear(len(LOAN_COLUMNS), 32), nn.ReLU(), nn.Linear(32, 2))


def fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int = 200, seed: int = 0) -> nn.Module:
    """Full-batch Adam on cross-entropy; returns the net in eval mode."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()
