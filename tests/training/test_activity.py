"""Dead and saturated units, plateaus, and quiet healthy runs across optimisers and schedules."""

import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.demo.context import digits_cnn


def _fit(net, x, y, opt, steps, sched=None, batch=64, image=False, **monitor_kw):
    mon = mg.training.Monitor(net, opt, **monitor_kw)
    for step in range(steps):
        idx = torch.arange(step * batch, (step + 1) * batch) % len(x)
        xb = x[idx].view(-1, 1, 8, 8) if image else x[idx]
        loss = nn.functional.cross_entropy(net(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        mon.step(loss)
        opt.step()
        if sched is not None:
            sched.step()
    return mon


def _mlp(act=nn.ReLU, he=True):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), act(), nn.Linear(64, 64), act(), nn.Linear(64, 10))
    if he:
        for m in net:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


def _warnings(report):
    return {f.id for f in report.findings if f.severity >= mg.Severity.MEDIUM}


def test_lr_two_kills_the_relus_and_the_loss_sits_at_chance(digits_tensors):
    x, y = digits_tensors
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    report = _fit(net, x, y, torch.optim.SGD(net.parameters(), lr=2.0), 200).report()
    found = {f.id: f for f in report.findings}
    assert found["calculus.dead-units"].severity == mg.Severity.HIGH
    assert found["calculus.dead-units"].evidence["share"] > 0.9
    plateau = found["calculus.plateau"]
    assert "chance level for 10 classes" in plateau.title and plateau.severity == mg.Severity.HIGH
    # the dead network has no gradient at all: that is not reported as vanishing with depth
    assert "calculus.vanishing-gradients" not in found and "calculus.update-ratio" not in found


def test_huge_init_saturates_tanh_units(digits_tensors):
    x, y = digits_tensors
    net = _mlp(nn.Tanh, he=False)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=3.0)
    report = _fit(net, x, y, torch.optim.SGD(net.parameters(), lr=0.01), 30).report()
    sat = next(f for f in report.findings if f.id == "calculus.saturated-units")
    assert sat.evidence["share"] >= 0.5 and sat.severity >= mg.Severity.MEDIUM
    assert any(f.id == "calculus.init-scale" for f in mg.training.inspect(net).findings)


OPTIMISERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05),
    "momentum": lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-2),
}
SCHEDULES = {
    "none": lambda o: None,
    "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=40, gamma=0.5),
    "exponential": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.99),
    "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=120),
    "warmup": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: min(1.0, (s + 1) / 20)),
}


@pytest.mark.parametrize("opt_name", OPTIMISERS)
@pytest.mark.parametrize("sched_name", SCHEDULES)
def test_healthy_runs_raise_no_warning(digits_tensors, opt_name, sched_name):
    x, y = digits_tensors
    net = _mlp()
    opt = OPTIMISERS[opt_name](net.parameters())
    mon = _fit(net, x, y, opt, 120, SCHEDULES[sched_name](opt))
    report = mon.report()
    assert _warnings(report) == set(), [f.title for f in report.findings]
    if sched_name != "none":
        assert len(set(mon.history.lr)) > 1  # the schedule is read from the optimizer


def test_healthy_small_cnn_on_digits_has_no_warning(digits_tensors):
    x, y = digits_tensors
    torch.manual_seed(0)
    net = digits_cnn()
    mon = _fit(net, x, y, torch.optim.Adam(net.parameters(), lr=1e-3), 150, image=True)
    report = mon.report()
    assert _warnings(report) == set(), [f.title for f in report.findings]
    assert report.metrics["final_loss"] < 0.6
    assert set(report.metrics["dead_or_saturated_share"]) == {"1", "3", "7"}  # the three ReLUs
    assert "learning rate" in report.figures[0].title


def test_activation_hooks_are_sampled_bounded_and_removable(digits_tensors):
    x, y = digits_tensors
    net = _mlp()
    mon = _fit(net, x, y, torch.optim.Adam(net.parameters(), lr=1e-3), 45, sample_every=10, max_history=50)
    assert mon.activations.steps == [0, 10, 20, 30, 40]
    assert all(isinstance(v, float) for row in mon.activations.share for v in row)  # no tensors kept alive
    ratios = mon.history.update_ratio
    sampled = [i for i, row in enumerate(ratios) if not any(v != v for v in row)]  # rows without NaN
    assert [mon.history.steps[i] for i in sampled] == [10, 20, 30, 40]  # the update into each sampled step
    with mon:
        pass  # leaving the context removes the hooks
    assert all(not m._forward_hooks for m in net.modules())
    other = _mlp()
    off = _fit(other, x, y, torch.optim.Adam(other.parameters(), lr=1e-3), 3, activations=False)
    assert off.probe is None and not off.activations.steps


def test_a_bad_initial_scale_is_reported_by_the_monitor(digits_tensors):
    x, y = digits_tensors
    net = _mlp(nn.Tanh, he=False)
    nn.init.normal_(net[2].weight, std=2.0)  # 64→64: 11× He
    report = _fit(net, x, y, torch.optim.SGD(net.parameters(), lr=0.01), 5).report()
    (init,) = [f for f in report.findings if f.id == "calculus.init-scale"]
    assert init.evidence["layer"] == "2" and init.evidence["reference"] == "He"


def test_the_monitor_keeps_no_graph_alive(digits_tensors):
    import gc
    import weakref

    x, y = digits_tensors
    net = _mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    mon = mg.training.Monitor(net, opt, sample_every=1)
    loss = nn.functional.cross_entropy(net(x[:64]), y[:64])
    loss.backward()
    mon.step(loss)
    opt.step()
    graph = weakref.ref(loss)
    del loss
    gc.collect()
    assert graph() is None  # neither the loss nor its autograd graph is referenced by the monitor
