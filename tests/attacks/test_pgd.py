"""FGSM and PGD against torchattacks on the same model and inputs; budgets and bounds kept."""

from __future__ import annotations

import pytest
import torch

import mathguard as mg
from mathguard.errors import InputError, UnsupportedError


def test_fgsm_equals_torchattacks(mlp, clf, batch):
    import torchattacks as ta
    x, y = batch
    ref = ta.FGSM(mlp, eps=0.1)(x, y)
    res = mg.attacks.FGSM()(clf, x, y, eps=0.1)
    fooled = res.success[0]
    assert fooled.any() and (~fooled).any()
    # where FGSM fools, we return its point; elsewhere the clean input
    assert torch.allclose(res.adversarial[0][fooled], ref[fooled], atol=1e-6)
    assert torch.equal(fooled, mlp(ref).argmax(1) != y)
    assert torch.equal(res.adversarial[0][~fooled], x[~fooled])


def test_pgd_without_random_start_equals_torchattacks(mlp, clf, batch):
    import torchattacks as ta
    x, y = batch
    ref = ta.PGD(mlp, eps=0.08, alpha=0.01, steps=10, random_start=False)(x, y)
    res = mg.attacks.PGD(steps=10, step_size=0.01, random_start=False, early_stop=False)(clf, x, y, eps=0.08)
    fooled = res.success[0]
    assert fooled.any()
    assert torch.allclose(res.adversarial[0][fooled], ref[fooled], atol=1e-6)
    assert torch.equal(fooled, mlp(ref).argmax(1) != y)


@pytest.mark.parametrize("norm,eps", [("linf", [0.02, 0.05, 0.1]), ("l2", [0.3, 0.8, 1.5])])
def test_pgd_budget_bounds_and_monotone(clf, batch, norm, eps):
    x, y = batch
    res = mg.attacks.PGD(norm=norm, steps=20)(clf, x, y, eps=eps)
    assert res.adversarial.shape == (3, len(x), 64)
    assert res.success.shape == res.norms.shape == res.queries.shape == (3, len(x))
    for i, e in enumerate(eps):
        d = (res.adversarial[i] - x).flatten(1)
        n = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
        assert (n <= e * (1 + 1e-5)).all()
        assert torch.allclose(n, res.norms[i], atol=1e-6)
    assert res.adversarial.min() >= 0 and res.adversarial.max() <= 1
    assert (res.success == (clf.predict(res.adversarial.flatten(0, 1)).view(3, -1) != y)).all()
    rate = res.success_rate
    assert rate[0] <= rate[1] <= rate[2] and rate[2] > 0.5
    # fooled samples stop early: they cost fewer queries than steps + final check
    assert res.queries[2].min() < 21


def test_pgd_stronger_than_fgsm(clf, batch):
    x, y = batch
    f = mg.attacks.FGSM()(clf, x, y, eps=0.05).success_rate[0]
    p = mg.attacks.PGD(steps=30, restarts=2)(clf, x, y, eps=0.05).success_rate[0]
    assert p >= f


def test_pgd_minimal_answers_every_eps(clf, batch):
    x, y = batch
    mn = mg.attacks.PGD(mode="minimal", steps=15, search_steps=6)(clf, x, y)
    assert mn.minimal and mn.eps == (float("inf"),)
    assert mn.success.all()
    at = mn.at([0.05, 0.2])
    assert (at.norms <= torch.tensor([[0.05], [0.2]]) * (1 + 1e-6)).all()
    fixed = mg.attacks.PGD(steps=15)(clf, x, y, eps=[0.05, 0.2])
    # bisection over the same PGD finds at least as many at the larger budget, roughly as many at the smaller
    assert at.success_rate[1] >= fixed.success_rate[1] - 0.1
    assert not at.success[0][mn.norms[0] > 0.05 * (1 + 1e-6)].any()


def test_progress_cancels_with_partial_result(clf, batch):
    x, y = batch
    seen: list[int] = []
    res = mg.attacks.PGD(steps=50, progress=lambda s, t: (seen.append(s), s < 3)[1])(clf, x, y, eps=0.05)
    assert seen == [1, 2, 3]
    assert res.queries.max() <= 3
    assert ((res.adversarial[0] - x).abs().amax(1) <= 0.05 + 1e-6).all()


def test_bad_inputs(clf, batch):
    x, y = batch
    with pytest.raises(InputError, match="norm"):
        mg.attacks.PGD(norm="l3")
    with pytest.raises(InputError, match="eps"):
        mg.attacks.PGD()(clf, x, y, eps=-0.1)
    with pytest.raises(InputError, match="give eps"):
        mg.attacks.PGD()(clf, x, y)
    with pytest.raises(InputError, match="labels"):
        mg.attacks.FGSM()(clf, x, y[:-1], eps=0.1)
    with pytest.raises(InputError, match="bounds"):
        mg.attacks.FGSM()(clf, x + 2, y, eps=0.1)
    with pytest.raises(InputError, match="shape"):
        mg.attacks.FGSM()(clf, x[:, :10], y, eps=0.1)


def test_refuses_models_without_gradients(batch):
    from sklearn.ensemble import RandomForestClassifier
    x, y = batch
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x.numpy(), y.numpy())
    bb = mg.wrap(forest, input_shape=(64,))
    with pytest.raises(UnsupportedError, match="gradients"):
        mg.attacks.PGD()(bb, x, y, eps=0.1)
