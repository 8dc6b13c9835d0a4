"""Black-box attacks: gradient estimates against the true gradient, Square against nets and forests."""

import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from torch import nn

import mathguard as mg
from mathguard.attacks.draws import PointDraws
from mathguard.attacks.pgd import loss_and_grad
from mathguard.errors import InputError


@pytest.fixture(scope="module")
def digits(digits_tensors, digits_mlp):
    x, y = digits_tensors
    return digits_mlp(activation=nn.Tanh, epochs=10), x, y  # tanh: smooth everywhere, for the estimators


@pytest.mark.parametrize("method", ["nes", "spsa"])
def test_gradient_estimates_align_with_the_true_gradient(digits, method):
    net, x, y = digits
    clf = mg.wrap(net, input_shape=(64,))
    xs, ys = x[1200:1220], y[1200:1220]
    _, true, _ = loss_and_grad(clf, xs, ys)
    est = mg.attacks.estimate_gradient(clf, xs, ys, method=method, samples=1000, sigma=1e-3,
                                       draws=PointDraws(0, torch.arange(len(xs))))
    cos = nn.functional.cosine_similarity(est, true, dim=1)
    assert cos.min() > 0.9, cos


def test_square_fools_a_net_within_its_query_budget_and_the_budget(digits):
    net, x, y = digits
    clf = mg.wrap(net, input_shape=(64,), bounds=(0.0, 1.0))
    xs, ys = x[1200:1300], y[1200:1300]
    res = mg.attacks.Square(queries=300)(clf, xs, ys, eps=[0.1, 0.3])
    assert (res.queries <= 300).all()
    assert res.success_rate[1] > 0.8 and res.success_rate[1] >= res.success_rate[0]
    assert (res.norms <= torch.tensor([[0.1], [0.3]]) + 1e-6).all()
    # black-box should not beat white-box by much on a smooth net
    pgd = mg.attacks.PGD(steps=40)(clf, xs, ys, eps=0.3)
    assert pgd.success_rate[0] >= res.success_rate[1] - 0.05


def test_square_and_zo_pgd_attack_a_random_forest(digits):
    _, x, y = digits
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(x[:1200].numpy(), y[:1200].numpy())
    clf = mg.wrap(forest, bounds=(0.0, 1.0))
    assert not clf.has_gradients
    xs, ys = x[1200:1250], y[1200:1250]
    correct = clf.predict(xs) == ys
    sq = mg.attacks.Square(queries=300)(clf, xs[correct], ys[correct], eps=0.3)
    assert sq.success_rate[0] > 0.5
    with pytest.raises(mg.UnsupportedError):
        mg.attacks.PGD()(clf, xs, ys, eps=0.1)
    zo = mg.attacks.ZeroOrderPGD(steps=10, samples=5, sigma=0.05)(clf, xs[correct][:10], ys[correct][:10], eps=0.3)
    assert (zo.queries <= 10 * (2 * 5 + 1)).all()


def test_bad_arguments_are_named():
    with pytest.raises(InputError, match="estimator"):
        mg.attacks.ZeroOrderPGD(estimator="adam")
    with pytest.raises(InputError, match="norm"):
        mg.attacks.Square(norm="l1")
    with pytest.raises(InputError, match="queries"):
        mg.attacks.Square(queries=0)


def test_transfer_from_a_net_to_a_forest_is_measured(digits):
    net, x, y = digits
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(x[:1200].numpy(), y[:1200].numpy())
    xs, ys = x[1200:1300], y[1200:1300]
    res = mg.attacks.transfer(mg.wrap(net, input_shape=(64,), bounds=(0.0, 1.0)), mg.wrap(forest, bounds=(0.0, 1.0)),
                              xs, ys, attack=mg.attacks.PGD(steps=20), eps=[0.05, 0.3])
    assert res.surrogate_success[0.3] > 0.9
    assert 0.0 <= res.transfer_rate[0.05] <= 1.0 and res.transfer_rate[0.3] > res.transfer_rate[0.05]
    fooled = (mg.wrap(forest).predict(res.adversarial[1]) != ys).float().mean()
    assert res.target_success[0.3] == pytest.approx(float(fooled))
    with pytest.raises(InputError, match="share"):
        mg.attacks.transfer(net, nn.Linear(64, 3), xs, ys, attack=mg.attacks.PGD(), eps=0.1, input_shape=(64,))


def test_square_l2_keeps_the_norm_and_is_not_stronger_than_white_box(digits):
    net, x, y = digits
    clf = mg.wrap(net, input_shape=(64,), bounds=(0.0, 1.0))
    xs, ys = x[1200:1300], y[1200:1300]
    budgets = [0.5, 1.0, 2.0]
    sq = mg.attacks.Square(norm="l2", queries=300)(clf, xs, ys, eps=budgets)
    assert (sq.norms <= torch.tensor(budgets).view(-1, 1) * (1 + 1e-5)).all()
    rates = sq.success_rate
    assert rates[2] > 0.9 and rates[0] <= rates[1] <= rates[2]
    pgd = mg.attacks.PGD(norm="l2", steps=40)(clf, xs, ys, eps=budgets)
    assert (pgd.success_rate >= rates - 0.05).all()


def test_square_l2_on_images_respects_bounds():
    from mathguard.demo.context import digits_cnn

    torch.manual_seed(0)
    clf = mg.wrap(digits_cnn().eval(), input_shape=(1, 8, 8), bounds=(0.0, 1.0))
    x = torch.rand(6, 1, 8, 8)
    res = mg.attacks.Square(norm="l2", queries=50)(clf, x, clf.predict(x), eps=1.0)
    assert (res.norms <= 1.0 + 1e-5).all() and res.adversarial.min() >= 0 and res.adversarial.max() <= 1
