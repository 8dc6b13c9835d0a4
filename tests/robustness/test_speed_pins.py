"""Pins for speed work on evaluate_robustness (#28): per-point outcomes must not move.

The numbers below were produced by HEAD before the #28 speed changes. A speed change that
alters any point's outcome (a skipped point, a reordered draw, a batched target class that
changes a float) fails here. The model is trained and attacked on one thread, so the floats
do not depend on the machine's thread count.
"""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import mathguard as mg


@pytest.fixture(scope="module")
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _setup():
    torch.manual_seed(0)
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
    y = torch.tensor(d.target)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(8 * 16, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(4):
        for i in torch.randperm(1200).split(64):
            xb = x[i].clone().requires_grad_(True)
            (g,) = torch.autograd.grad(nn.functional.cross_entropy(net(xb), y[i]), xb)
            xb = (xb + 0.1 * g.sign()).clamp(0, 1).detach()
            opt.zero_grad()
            nn.functional.cross_entropy(net(xb), y[i]).backward()
            opt.step()
    return net.eval(), x[1200:1260], y[1200:1260]


PINNED = {'clean': 0.6666666666666666, 'robust': {0.05: 0.5166666666666667, 0.1: 0.36666666666666664, 0.2: 0.03333333333333333}, 'broken_by': {0.05: {'APGD': 4, 'APGD-T': 5, 'Square': 0, 'FGSM': 0}, 0.1: {'APGD': 11, 'APGD-T': 7, 'Square': 0, 'FGSM': 0}, 0.2: {'APGD': 35, 'APGD-T': 3, 'Square': 0, 'FGSM': 0}}, 'points': {0.05: '110001100100100101100011111001100001101110001110100110110110', 0.1: '010001100100100100100011110001000001101000001100100110000110', 0.2: '000001100000000000000000000000000000000000000000000000000000'}, 'findings': []}


def _bits(mask) -> str:
    return "".join("1" if v else "0" for v in mask)


def test_evaluate_robustness_outcomes_pinned(one_thread):
    net, xs, ys = _setup()
    clf = mg.wrap(net, input_shape=(1, 8, 8), bounds=(0.0, 1.0))
    rep = mg.evaluate_robustness(clf, xs, ys, eps=[0.05, 0.1, 0.2], steps=20, check_samples=16)
    m = rep.metrics
    got = {"clean": m["clean_accuracy"], "robust": m["robust_accuracy"], "broken_by": m["broken_by"],
           "points": {e: _bits(p) for e, p in m["robust_points"].items()},
           "findings": sorted(f.id for f in rep.findings)}
    print(repr(got))
    assert got == PINNED


ATTACKS_PINNED = {'APGD': ('001110011011001010011100000110111110010011110010011001101001', '0060bdad2f443d36'), 'APGD-T': ('101110011011011011011100001110111110010111110011011001111001', '5b328a6a6e207781'), 'Square': ('001110011011011011011100000110111110010111110011011001101001', '6572dba6f5996a3c')}


def test_attack_adversarials_pinned(one_thread):
    """Each attack of the ensemble alone: who it fools and its adversarials to the last bit (as a digest)."""
    import hashlib

    net, xs, ys = _setup()
    clf = mg.wrap(net, input_shape=(1, 8, 8), bounds=(0.0, 1.0))
    got = {}
    for attack in (mg.attacks.APGD(loss="ce", steps=20),
                   mg.attacks.APGD(loss="dlr", targeted=True, n_target_classes=9, steps=20),
                   mg.attacks.Square(queries=200)):
        res = attack(clf, xs, ys, eps=0.1, ids=torch.arange(len(xs)))
        adv = res.adversarial
        got[attack.name] = (_bits(res.success[0]), hashlib.sha256(adv.detach().numpy().tobytes()).hexdigest()[:16])
    print(repr(got))
    assert got == ATTACKS_PINNED
