"""Demo section: a healthy training run under the Monitor, its weights inspected, and two planted failures."""

from __future__ import annotations

import torch
from torch import nn

from mathguard.demo.context import DemoContext
from mathguard.report import Report
from mathguard.training.monitor import Monitor
from mathguard.training.weights import inspect


def _run(net: nn.Module, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer, steps: int) -> Monitor:
    with Monitor(net, opt) as mon:
        for step in range(steps):
            idx = torch.arange(step * 64, step * 64 + 64) % len(x)
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            mon.step(loss)
            opt.step()
    return mon


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def demo_section(ctx: DemoContext) -> Report:
    x, y = torch.tensor(ctx.digits.X_train), torch.tensor(ctx.digits.y_train)
    steps = 60 if ctx.quick else 200
    torch.manual_seed(ctx.random_state)
    healthy = _mlp()
    good = _run(healthy, x, y, torch.optim.Adam(healthy.parameters(), lr=1e-3), steps).report()
    good.title = "MLP on digits, Adam 1e-3"
    weights = inspect(healthy)
    weights.title = "The same MLP's weights after training"
    layers: list[nn.Module] = [nn.Linear(64, 32), nn.Sigmoid()]
    for _ in range(18):
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    deep = nn.Sequential(*layers, nn.Linear(32, 10))
    vanishing = _run(deep, x, y, torch.optim.SGD(deep.parameters(), lr=0.01), steps // 2).report()
    vanishing.title = "Planted example: 20-layer sigmoid MLP"
    torch.manual_seed(ctx.random_state)
    hot = _mlp()
    dead = _run(hot, x, y, torch.optim.SGD(hot.parameters(), lr=2.0), 200).report()
    dead.title = "Planted example: the same MLP with SGD at learning rate 2"
    report = Report(title="Calculus: training dynamics",
                    summary="The Monitor reads per-layer gradients after every backward pass and samples weights, "
                            "updates and activations every tenth step; a healthy run stays quiet, a deep sigmoid "
                            "stack is diagnosed with vanishing gradients, and a learning rate of 2 with dead ReLUs "
                            "and a loss stuck at chance level.")
    for section in (good, weights, vanishing, dead):
        report.add_section(section)
    return report
