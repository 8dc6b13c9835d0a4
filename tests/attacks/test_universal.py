"""Universal perturbation: one delta for the data set, measured on held-out digits; constraints hold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mathguard as mg
from mathguard.attacks import universal_perturbation
from mathguard.errors import InputError, UnsupportedError


def test_fools_half_of_held_out_digits_at_linf_02(demo_digits):
    clf, xtr, ytr, xte, yte = demo_digits
    res = universal_perturbation(clf, xtr, ytr, norm="linf", eps=0.2, steps=100)
    held_out = res.evaluate(clf, xte, yte)
    print(f"UAP Linf 0.2: fooling rate {res.fooling_rate:.3f} (train), {held_out['fooling_rate']:.3f} (held out)")
    assert float(res.delta.abs().max()) <= 0.2 + 1e-6
    assert held_out["fooling_rate"] >= 0.45


def test_l2_budget_and_immutable_features(clf, digits):
    x, y = digits
    mutable = np.zeros(64, dtype=bool)
    mutable[:32] = True
    res = universal_perturbation(clf, x[:300], y[:300], norm="l2", eps=1.5, steps=20, mutable=mutable)
    assert float(res.delta.norm()) <= 1.5 + 1e-5
    adv = res.apply(x[:300])
    assert torch.equal(adv[:, 32:], x[:300, 32:])
    assert adv.min() >= 0 and adv.max() <= 1
    assert 0 <= res.fooling_rate <= 1


@pytest.mark.parametrize("kwargs", [{"eps": 0}, {"eps": [0.1, 0.2]}, {"norm": "l1"}, {"steps": 0},
                                    {"step_size": float("nan")}])
def test_arguments_are_validated(clf, batch, kwargs):
    with pytest.raises(InputError):
        universal_perturbation(clf, *batch, **{"eps": 0.1, **kwargs})


def test_needs_gradients(batch):
    api = mg.wrap(lambda a: np.zeros(len(a), dtype=int), labels_only=True, input_shape=(64,), n_classes=10)
    with pytest.raises(UnsupportedError):
        universal_perturbation(api, *batch, eps=0.1)
