"""The one training loop behind every defense: only the loss differs between them."""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from mathguard.errors import InputError
from mathguard.params import COUNT, INT_SEED, POSITIVE, declare

# loss(net, x, y, progress) where progress runs from 0 to 1 over training (for eps/κ ramps).
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]


@declare(epochs=COUNT, lr=POSITIVE)
def train(net: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], loss_fn: LossFn, *,
          epochs: int = 10, lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None) -> nn.Module:
    """Adam (unless an optimizer is given) over ``epochs`` passes; returns the net in eval mode."""
    batches = list(loader) if not hasattr(loader, "__len__") else loader
    n_batches = len(batches)  # type: ignore[arg-type]
    if n_batches == 0:
        raise InputError("the data loader yields no batches")
    opt = optimizer or torch.optim.Adam(net.parameters(), lr=lr)
    total = epochs * n_batches
    step = 0
    for _ in range(epochs):
        for x, y in batches:
            net.train()
            loss = loss_fn(net, x, y, step / total)
            if not torch.isfinite(loss):
                raise InputError(f"training loss became {float(loss)} at step {step}; lower the learning rate")
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    return net.eval()


@declare(batch_size=COUNT, random_state=INT_SEED)
def batches(x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 64,
            random_state: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A shuffled in-memory loader for tensors (any iterable of (x, y) batches works too)."""
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(random_state))
    return [(x[perm[i:i + batch_size]], y[perm[i:i + batch_size]]) for i in range(0, len(x), batch_size)]
