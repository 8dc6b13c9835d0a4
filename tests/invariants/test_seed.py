"""#26: the audit's random_state reaches every lens. The same seed reproduces the whole audit (timings aside);
another seed moves the numbers of the lenses that draw at random (the stats lens's bootstrap against a baseline,
the detectors' noise scenario), which it did not before the seed was passed on."""

from __future__ import annotations

import json

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from torch import nn

import mathguard as mg

TIMING = {"used", "seconds", "elapsed", "wall_s", "time_s"}


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 2))


def _data():  # noqa: ANN202
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x).astype(np.float32)
    return x[:400], y[:400], x[400:], y[400:]


def _trained(seed: int) -> nn.Module:
    x, y, _, _ = _data()
    net = _net(seed)
    return mg.defend.train(net, mg.defend.batches(torch.tensor(x), torch.tensor(y)),
                           lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb), epochs=3, lr=3e-3)


def _without_timings(value):  # noqa: ANN001, ANN202
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING and k != "figures"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _audit(model, baseline, seed):  # noqa: ANN001, ANN202
    x, y, xt, yt = _data()
    rep = mg.audit(mg.wrap(model, input_shape=(30,)), train=(x, y), test=(xt, yt), baseline=mg.wrap(baseline, input_shape=(30,)),
                   budget=0, points=20, steps=10, certified_points=20, random_state=seed,
                   lenses=("stats", "info", "adversarial", "detectors"))
    return _without_timings(json.loads(json.dumps(rep.to_dict(), default=str)))


def _section(doc, title):  # noqa: ANN001, ANN202
    return next(s for s in doc["sections"] if s["title"].startswith(title))


def test_the_same_seed_reproduces_the_audit_and_another_moves_the_random_lenses():
    model, baseline = _trained(0), _trained(1)
    first, again, other = _audit(model, baseline, 7), _audit(model, baseline, 7), _audit(model, baseline, 8)
    assert first == again
    stats_a, stats_b = _section(first, "Probability"), _section(other, "Probability")
    assert stats_a["sections"][-1] != stats_b["sections"][-1]  # the bootstrap against the baseline (its SE at least)
    assert _section(first, "Detectors")["metrics"] != _section(other, "Detectors")["metrics"]
