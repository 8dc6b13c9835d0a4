"""Planted training pathologies are diagnosed; healthy training is not; memory stays bounded."""

import math

import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.errors import InputError


def _deep(act: type[nn.Module], depth: int = 20, he: bool = False) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(64, 32), act()]
    for _ in range(depth - 2):
        layers += [nn.Linear(32, 32), act()]
    layers.append(nn.Linear(32, 10))
    net = nn.Sequential(*layers)
    if he:
        for m in net:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return net


def _train(net, x, y, opt, steps, monitor=None, inject_nan_at=None):
    losses = []
    for step in range(steps):
        idx = torch.arange(step * 64, step * 64 + 64) % len(x)
        xb = x[idx].clone()
        if step == inject_nan_at:
            xb[0, 0] = float("nan")
        loss = nn.functional.cross_entropy(net(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        if monitor is not None:
            monitor.step(loss)
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _ids(report):
    return {f.id for f in report.findings if f.severity >= mg.Severity.MEDIUM}


def test_deep_sigmoid_vanishes_and_relu_he_does_not(digits_tensors):
    x, y = digits_tensors
    ids = {}
    for label, net in {"sigmoid": _deep(nn.Sigmoid), "relu": _deep(nn.ReLU, he=True)}.items():
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        mon = mg.training.Monitor(net, opt)
        _train(net, x, y, opt, 30, mon)
        ids[label] = _ids(mon.report())
    assert "calculus.vanishing-gradients" in ids["sigmoid"]
    assert "calculus.vanishing-gradients" not in ids["relu"]


def test_too_large_lr_diverges_and_the_suggested_lr_trains(digits_tensors):
    x, y = digits_tensors
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(net.parameters(), lr=5.0)
    mon = mg.training.Monitor(net, opt)
    _train(net, x, y, opt, 100, mon)
    found = {f.id: f for f in mon.report().findings}
    diagnosis = found.get("calculus.divergence") or found.get("calculus.exploding-gradients")
    assert diagnosis is not None, sorted(found)
    suggested = diagnosis.evidence["suggested_lr"]
    assert suggested == pytest.approx(0.5)
    torch.manual_seed(0)
    fresh = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    losses = _train(fresh, x, y, torch.optim.SGD(fresh.parameters(), lr=suggested), 100)
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10


def test_nan_is_caught_at_the_step_it_happens(digits_tensors):
    x, y = digits_tensors
    net = _deep(nn.ReLU, depth=3, he=True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    mon = mg.training.Monitor(net, opt)
    _train(net, x, y, opt, 12, mon, inject_nan_at=7)
    assert mon.non_finite == (7, "loss")
    assert "calculus.non-finite" in _ids(mon.report())


def test_healthy_training_with_adam_and_cosine_schedule_has_no_warning(digits_tensors):
    x, y = digits_tensors
    net = _deep(nn.ReLU, depth=3, he=True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=60)
    mon = mg.training.Monitor(net, opt)
    for step in range(60):
        idx = torch.arange(step * 32, step * 32 + 32) % len(x)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        mon.step(loss)
        opt.step()
        sched.step()
    rep = mon.report()
    assert _ids(rep) == set()
    assert mon.history.lr[0] > mon.history.lr[-1]  # the schedule is seen
    assert len(rep.figures) == 1


def test_history_stays_bounded_over_10000_steps():
    net = nn.Sequential(nn.Linear(2, 2))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    mon = mg.training.Monitor(net, opt, max_history=100)
    x, y = torch.randn(8, 2), torch.tensor([0, 1] * 4)
    for _ in range(10_000):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        mon.step(loss)
        opt.step()
    assert len(mon.history) <= 101
    assert mon.history.steps[-1] >= 9_000 and mon.n_steps == 10_000
    assert len(mon.history.grad_norm) == len(mon.history.steps) == len(mon.history.loss)


def test_misuse_is_named():
    net = nn.Sequential(nn.Linear(2, 2))
    mon = mg.training.Monitor(net)
    with pytest.raises(InputError, match="backward"):
        mon.step(nn.functional.cross_entropy(net(torch.randn(3, 2)), torch.tensor([0, 1, 0])))
    with pytest.raises(InputError, match="scalar"):
        mon.step(torch.ones(3))
    with pytest.raises(InputError, match="no trainable Linear"):
        mg.training.Monitor(nn.ReLU())


def test_frozen_layers_are_skipped_and_unused_ones_read_zero():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3))
    spare = nn.Linear(4, 4)  # registered but never called
    net.add_module("spare", spare)
    net[0].weight.requires_grad_(False)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    mon = mg.training.Monitor(net, opt)
    assert [n for n, _ in mon.layers] == ["2", "spare"]
    loss = nn.functional.cross_entropy(net[2](net[1](net[0](torch.randn(8, 4)))), torch.randint(0, 3, (8,)))
    loss.backward()
    mon.step(loss)
    assert mon.history.grad_norm[0][0] > 0 and mon.history.grad_norm[0][1] == 0.0


def test_demo_section_is_quiet_for_healthy_and_flags_the_planted_net():
    from mathguard.demo.context import DemoContext
    from mathguard.demo.training import demo_section

    healthy, weights, planted, hot = demo_section(DemoContext(quick=True)).sections
    assert _ids(healthy) == set() and _ids(weights) == set()
    assert "spectral_norm" in next(iter(weights.metrics["layers"].values()))
    assert "calculus.vanishing-gradients" in _ids(planted)
    assert {"calculus.dead-units", "calculus.plateau"} <= _ids(hot)
