"""Tabular and 1-D inputs: immutable features, per-feature bounds, one-hot groups; SNR of signal attacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mathguard as mg
from mathguard.attacks import APGD, PGD
from mathguard.demo import modalities as m
from mathguard.errors import InputError, UnsupportedError

MUTABLE = np.array([i not in m.IMMUTABLE for i in range(len(m.LOAN_COLUMNS))])
GROUPS = [list(m.HOUSING)]


@pytest.fixture(scope="module")
def loans():
    x, y = m.loans(1000)
    clf = mg.wrap(m.fit(m.loan_net(), x, y, steps=150), input_shape=(len(m.LOAN_COLUMNS),))
    xt, yt = m.loans(300, random_state=1)
    return clf, xt, yt


def _attacks(norm: str, onehot=None):
    kw = dict(norm=norm, low=m.LOW, high=m.HIGH, mutable=MUTABLE, onehot=onehot)
    return [PGD(steps=20, **kw), APGD(steps=20, **kw)]


@pytest.mark.parametrize("norm, eps", [("linf", 0.5), ("l2", 1.5)])
def test_immutable_features_never_change_and_bounds_hold(loans, norm, eps):
    clf, x, y = loans
    for attack in _attacks(norm):
        res = attack(clf, x, y, eps=eps)
        adv = res.adversarial[0]
        assert torch.equal(adv[:, list(m.IMMUTABLE)], x[:, list(m.IMMUTABLE)]), attack.name
        assert (adv >= torch.tensor(m.LOW)).all() and (adv <= torch.tensor(m.HIGH)).all()
        assert res.success[0].float().mean() > 0.2  # the mutable features still let it fool the model


def test_onehot_groups_stay_valid_and_change_only_when_the_budget_pays_for_it(loans):
    clf, x, y = loans
    cols = list(m.HOUSING)
    for attack in _attacks("l2", GROUPS):
        res = attack(clf, x, y, eps=[0.5, 1.5])  # a category change costs sqrt(2) in L2
        groups = res.adversarial[..., cols]
        assert ((groups == 0) | (groups == 1)).all() and (groups.sum(-1) == 1).all(), attack.name
        changed = (groups != x[:, cols]).any(-1)
        assert not changed[0].any() and changed[1].any(), attack.name
        assert (res.norms <= torch.tensor([[0.5], [1.5]]) * (1 + 1e-5)).all()
        assert torch.equal(res.adversarial[..., list(m.IMMUTABLE)], x[:, list(m.IMMUTABLE)].expand(2, -1, -1))
    unconstrained = PGD(norm="l2", steps=20)(clf, x, y, eps=1.5).adversarial[0, :, cols]
    assert not (unconstrained.sum(-1) == 1).all()  # without the constraint the group stops being one-hot


def test_constraint_arguments_are_checked(loans):
    clf, x, y = loans
    with pytest.raises(InputError, match="one-hot"):
        PGD(onehot=[[0, 1]])(clf, x, y, eps=0.1)
    with pytest.raises(InputError, match="disjoint"):
        PGD(onehot=[[4, 5], [5, 6]])(clf, x, y, eps=0.1)
    with pytest.raises(UnsupportedError, match="fixed budget"):
        PGD(mode="minimal", onehot=GROUPS)(clf, x, y, eps=1.0)
    with pytest.raises(InputError, match="outside"):
        PGD(low=m.LOW, high=m.HIGH)(clf, x * 10, y, eps=0.1)


def test_snr_of_a_signal_attack_is_the_formula():
    x, y = m.tones(128)
    clf = mg.wrap(m.fit(m.tone_net(), x, y, steps=30), input_shape=(1, m.LENGTH))
    res = APGD(norm="l2", steps=10)(clf, x[:32], y[:32], eps=[0.5, 2.0])
    delta = (res.adversarial - x[:32]).double().numpy()
    with np.errstate(divide="ignore"):  # a point misclassified from the start has delta = 0: SNR infinite
        expected = 10 * np.log10((x[:32].double().numpy() ** 2).sum((1, 2)) / (delta ** 2).sum((2, 3)))
    np.testing.assert_allclose(res.snr_db().numpy(), expected, rtol=1e-9)
    assert res.success[1].any()
