"""HopSkipJump: the exact linear answer, ART's HopSkipJump on the same points, labels-only models, constraints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from art.attacks.evasion import HopSkipJump as ArtHopSkipJump
from art.estimators.classification import BlackBoxClassifier
from torch import nn

import mathguard as mg
from mathguard.attacks import HopSkipJump
from mathguard.errors import InputError, ModelError, UnsupportedError


def _linear(x: torch.Tensor, y: torch.Tensor, classes: int) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


def _correct(clf, x, y, n):
    keep = clf.predict(x) == y
    return x[keep][:n], y[keep][:n]


def test_binary_linear_every_sample_within_10_percent_of_exact(digits):
    x, y = digits
    yb = (y >= 5).long()
    clf = mg.wrap(_linear(x, yb, 2), input_shape=(64,))
    xs, ys = _correct(clf, x, yb, 16)
    exact = mg.attacks.classifier_minimal_perturbation(clf, xs, ys, norm="l2")
    res = HopSkipJump(norm="l2", queries=10_000)(clf, xs, ys)
    ratio = res.norms[0].double() / exact
    assert res.success.all()
    assert (res.queries <= 10_000).all()
    assert (ratio >= 1 - 1e-4).all() and (ratio <= 1.10).all(), ratio


def test_multiclass_linear_median_within_10_percent(linear_clf, digits):
    """Ten classes: the class region is a polytope and a walk can settle on a farther facet; the median cannot."""
    x, y = digits
    xs, ys = _correct(linear_clf, x, y, 20)
    exact = mg.attacks.classifier_minimal_perturbation(linear_clf, xs, ys, norm="l2")
    res = HopSkipJump(queries=10_000)(linear_clf, xs, ys)
    ratio = res.norms[0].double() / exact
    assert res.success.all() and (ratio >= 1 - 1e-4).all()
    assert float(ratio.median()) <= 1.10


def _art_run(net: nn.Module, x: np.ndarray, max_iter: int) -> tuple[float, float]:
    """ART's HopSkipJump one point at a time on a labels-only view of ``net``: (median L2, mean queries)."""
    count = [0]

    def labels(a: np.ndarray) -> np.ndarray:
        count[0] += len(a)
        with torch.no_grad():
            return np.eye(10)[net(torch.as_tensor(a, dtype=torch.float32)).argmax(1).numpy()]

    est = BlackBoxClassifier(labels, input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0))
    np.random.seed(0)
    attack = ArtHopSkipJump(est, norm=2, max_iter=max_iter, max_eval=10_000, init_eval=100, verbose=False)
    norms, queries = [], []
    for row in x:
        count[0] = 0
        adv = attack.generate(row[None])
        norms.append(float(np.linalg.norm(adv[0] - row)))
        queries.append(count[0])
    return float(np.median(norms)), float(np.mean(queries))


@pytest.mark.parametrize("art_iters", [5, 17])  # about 1,000 and 5,000 queries per point
def test_matches_art_at_the_same_queries(digits, art_iters):
    x, y = digits
    net = _linear(x, y, 10)
    clf = mg.wrap(net, input_shape=(64,), bounds=(0.0, 1.0))
    xs, ys = _correct(clf, x, y, 16)
    art_median, art_queries = _art_run(net, xs.numpy(), art_iters)
    res = HopSkipJump(queries=int(art_queries))(clf, xs, ys)
    ours = float(res.norms[0].median())
    assert res.success.all() and float(res.queries.float().mean()) <= art_queries
    assert ours <= 1.10 * art_median, (ours, art_median, art_queries)


def test_labels_only_model_counts_queries_and_refuses_scores(linear_clf, digits):
    x, y = digits
    xs, ys = _correct(linear_clf, x, y, 8)
    api = mg.wrap(linear_clf, labels_only=True)
    with pytest.raises(UnsupportedError):
        api.logits(xs)
    with pytest.raises(UnsupportedError):
        mg.attacks.Square(queries=10)(api, xs, ys, eps=0.1)
    attack = HopSkipJump(queries=600)
    res = attack(api, xs, ys)
    assert api.queries == int(res.queries.sum()) + len(xs)  # the final check predicts each point once
    assert torch.equal(res.norms, attack(linear_clf, xs, ys).norms)  # labels are all it ever used


def test_labels_function_is_validated():
    api = mg.wrap(lambda a: np.zeros(len(a)) + 7, labels_only=True, input_shape=(4,), n_classes=3)
    with pytest.raises(ModelError):
        api.predict(np.zeros((2, 4)))
    with pytest.raises(ModelError):
        mg.wrap(lambda a: a, labels_only=True, input_shape=(4,))


def test_linf_converges_near_exact(linear_clf, digits):
    x, y = digits
    xs, ys = _correct(linear_clf, x, y, 12)
    exact = mg.attacks.classifier_minimal_perturbation(linear_clf, xs, ys, norm="linf")
    res = HopSkipJump(norm="linf", queries=3000)(linear_clf, xs, ys)
    ratio = res.norms[0].double() / exact
    assert res.success.all() and (ratio >= 1 - 1e-4).all()
    assert float(ratio.median()) <= 1.5


def test_tabular_immutable_features_and_per_feature_bounds():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(200, 6, generator=gen) * torch.tensor([1.0, 10.0, 1.0, 100.0, 1.0, 1.0])
    net = nn.Linear(6, 2)
    with torch.no_grad():  # class 1 iff x0 + x1/10 + x2/2 + x3/100 > 1.5: the mutable x0, x1 can always flip it
        net.weight.copy_(torch.tensor([[0.0] * 6, [1.0, 0.1, 0.5, 0.01, 0.0, 0.0]]))
        net.bias.copy_(torch.tensor([0.0, -1.5]))
    clf = mg.wrap(net, input_shape=(6,))
    xs = x[:16]
    ys = clf.predict(xs)
    mutable = np.array([True, True, False, False, True, True])
    low, high = np.zeros(6), np.array([1.0, 10.0, 1.0, 100.0, 1.0, 1.0])
    res = HopSkipJump(queries=2000, init_tries=1000, mutable=mutable, low=low, high=high)(clf, xs, ys)
    adv = res.adversarial[0]
    assert res.success.all()
    assert torch.equal(adv[:, ~torch.as_tensor(mutable)], xs[:, ~torch.as_tensor(mutable)])
    assert (adv >= torch.as_tensor(low, dtype=adv.dtype)).all() and (adv <= torch.as_tensor(high, dtype=adv.dtype)).all()


@pytest.mark.parametrize("kwargs", [{"queries": 10}, {"queries": 2.5}, {"norm": "l1"}, {"init_evals": 0}])
def test_arguments_are_validated(kwargs):
    with pytest.raises(InputError):
        HopSkipJump(**kwargs)


def test_constraint_arguments_are_validated(clf, batch):
    x, y = batch
    with pytest.raises(InputError):
        HopSkipJump(mutable=np.ones(3, dtype=bool))(clf, x, y)
    with pytest.raises(InputError):
        HopSkipJump(mutable=np.ones(64))(clf, x, y)
    with pytest.raises(InputError):
        HopSkipJump(low=0.5, high=1.0)(clf, x, y)  # the inputs are not inside the box


def test_evaluate_robustness_uses_hopskipjump_on_a_labels_only_model(clf, batch):
    x, y = batch
    api = mg.wrap(clf, labels_only=True)
    rep = mg.evaluate_robustness(api, x[:10], y[:10], norm="l2", eps=[0.5, 4.0], steps=20)
    assert [a["attack"] for a in rep.metrics["attacks"]] == ["HopSkipJump"]
    assert any(f.id == "adversarial.labels-only-evaluation" for f in rep.findings)
    assert rep.metrics["robust_accuracy"][4.0] <= rep.metrics["robust_accuracy"][0.5]
