"""Demo section: a healthy training run under the Monitor, next to a planted vanishing-gradient network."""

from __future__ import annotations

import torch
from torch import nn

from mathguard.demo.context import DemoContext
from mathguard.report import Report
from mathguard.training.monitor import Monitor


def _run(net: nn.Module, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer, steps: int) -> Monitor:
    mon = Monitor(net, opt)
    for step in range(steps):
        idx = torch.arange(step * 64, step * 64 + 64) % len(x)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        mon.step(loss)
        opt.step()
    return mon


def demo_section(ctx: DemoContext) -> Report:
    x, y = torch.tensor(ctx.digits.X_train), torch.tensor(ctx.digits.y_train)
    steps = 60 if ctx.quick else 200
    torch.manual_seed(ctx.seed)
    healthy = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    good = _run(healthy, x, y, torch.optim.Adam(healthy.parameters(), lr=1e-3), steps).report()
    good.title = "MLP on digits, Adam 1e-3"
    layers: list[nn.Module] = [nn.Linear(64, 32), nn.Sigmoid()]
    for _ in range(18):
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    deep = nn.Sequential(*layers, nn.Linear(32, 10))
    bad = _run(deep, x, y, torch.optim.SGD(deep.parameters(), lr=0.01), steps // 2).report()
    bad.title = "Planted example: 20-layer sigmoid MLP"
    report = Report(title="Calculus: training dynamics",
                    summary="The Monitor reads per-layer gradients after every backward pass; a healthy run "
                            "stays quiet, a deep sigmoid stack is diagnosed with vanishing gradients.")
    report.add_section(good)
    report.add_section(bad)
    return report
