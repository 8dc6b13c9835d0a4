"""APGD's step-size rule follows Croce & Hein §3.2 (issue #11): condition 2 cannot halve at consecutive checkpoints."""

import torch
from torch import nn

import mathguard as mg
from mathguard.attacks.apgd import halve_step


def test_condition_two_needs_no_halving_at_the_last_checkpoint():
    stuck = torch.tensor([1.0, 1.0])
    many_increases = torch.tensor([10.0, 10.0])  # condition 1 is false for span 10
    reduced_last = torch.tensor([True, False])
    halve = halve_step(many_increases, 10, reduced_last, best_at_ck=stuck, best_loss=stuck)
    assert halve.tolist() == [False, True]


def test_condition_one_halves_whatever_happened_before():
    halve = halve_step(torch.tensor([2.0]), 10, torch.tensor([True]), torch.tensor([0.0]), torch.tensor([1.0]))
    assert halve.tolist() == [True]


def test_improving_loss_keeps_the_step():
    halve = halve_step(torch.tensor([9.0]), 10, torch.tensor([False]), torch.tensor([0.0]), torch.tensor([1.0]))
    assert halve.tolist() == [False]


def test_apgd_still_fools_a_linear_model():
    torch.manual_seed(0)
    clf = mg.wrap(nn.Linear(8, 3).eval(), input_shape=(8,))
    x = torch.rand(64, 8)
    y = clf.predict(x)
    res = mg.attacks.APGD(steps=50)(clf, x, y, eps=1.0)
    assert res.success[0].float().mean() > 0.9
