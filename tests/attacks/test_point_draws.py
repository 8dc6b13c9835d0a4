"""Per-point draws: the right distributions, and an attack on a point does not depend on its batch."""

import numpy as np
import pytest
import torch
from scipy import stats

import mathguard as mg
from mathguard.attacks.draws import PointDraws
from mathguard.errors import InputError


def test_uniform_and_normal_draws_have_their_distributions():
    draws = PointDraws(7, torch.arange(200))
    u = draws.uniform((1, 2), (500,), torch.float64).flatten().numpy()
    z = draws.normal((3,), (500,), torch.float64).flatten().numpy()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert 0.0 <= u.min() and u.max() < 1.0
    # neighbouring points and neighbouring elements are uncorrelated
    grid = draws.uniform((4,), (500,), torch.float64).numpy()
    assert abs(np.corrcoef(grid[:-1].ravel(), grid[1:].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(grid[:, :-1].ravel(), grid[:, 1:].ravel())[0, 1]) < 0.02
    ints = draws.integers((5,), 6, (500,)).flatten().numpy()
    assert stats.chisquare(np.bincount(ints, minlength=6)).pvalue > 1e-3


def test_a_point_keeps_its_draws_in_any_batch_and_keys_and_seeds_change_them():
    whole = PointDraws(3, torch.arange(10))
    part = PointDraws(3, torch.tensor([7, 2]))
    assert torch.equal(whole.uniform((1,), (4,))[[7, 2]], part.uniform((1,), (4,)))
    assert torch.equal(whole.rows(torch.tensor([7, 2])).normal((2,), (3,)), part.normal((2,), (3,)))
    assert not torch.equal(whole.uniform((1,), (4,)), whole.uniform((2,), (4,)))
    assert not torch.equal(whole.uniform((1,), (4,)), PointDraws(4, torch.arange(10)).uniform((1,), (4,)))
    assert not torch.equal(whole.uniform((1, 0), (4,)), whole.uniform((0, 1), (4,)))


ATTACKS = {
    "apgd-ce": lambda norm: mg.attacks.APGD(norm=norm, steps=10, random_state=1),
    "apgd-t": lambda norm: mg.attacks.APGD(norm=norm, loss="dlr", targeted=True, n_target_classes=3, steps=5),
    "pgd": lambda norm: mg.attacks.PGD(norm=norm, steps=10, restarts=2),
    "square": lambda norm: mg.attacks.Square(norm=norm, queries=60, p_init=0.3),
    "zo-pgd": lambda norm: mg.attacks.ZeroOrderPGD(norm=norm, steps=4, samples=5),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("norm,eps", [("linf", 0.06), ("l2", 0.5)])
def test_an_attack_on_a_point_is_the_same_in_any_batch(clf, digits, name, norm, eps):
    x, y = digits
    x, y = x[:24], y[:24]
    attack = ATTACKS[name](norm)
    whole = attack(clf, x, y, eps=eps)
    assert 0 < int(whole.success.sum()) < len(x) or name == "zo-pgd"
    for lo, hi in ((0, 5), (5, 17), (17, 24)):
        part = attack(clf, x[lo:hi], y[lo:hi], eps=eps, ids=torch.arange(lo, hi))
        assert torch.equal(part.success[0], whole.success[0][lo:hi])
        torch.testing.assert_close(part.adversarial[0], whole.adversarial[0][lo:hi], rtol=0, atol=1e-6)
    if name in ("apgd-ce", "zo-pgd", "square"):  # not vacuous: under other ids the points get other draws
        other = attack(clf, x, y, eps=eps, ids=torch.arange(100, 124))
        assert not torch.allclose(other.adversarial[0], whole.adversarial[0])


@pytest.mark.parametrize("ids", [np.arange(3), [0, 0, 1, 2], [0.0, 1.0, 2.0, 3.0], [-1, 0, 1, 2]])
def test_bad_ids_are_refused(clf, digits, ids):
    x, y = digits
    with pytest.raises(InputError, match="ids"):
        mg.attacks.PGD(steps=2)(clf, x[:4], y[:4], eps=0.1, ids=ids)
