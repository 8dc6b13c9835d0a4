"""Order and split invariance: shuffling rows or splitting a batch never changes a per-row answer of
the detectors, the attacks (per-point draws, given the points' ids) or smoothing.

Before issue #22 MC dropout reseeded one generator per batch, so reordering the same rows changed
29 of ~40 flags.
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import mathguard as mg
import mathguard.detect as D

SETTINGS = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 16), nn.ReLU(),
                        nn.Linear(16, 3)).eval()
    clf = mg.wrap(net, input_shape=(6,), bounds=(0, 1))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(120, 6, generator=g)
    with torch.no_grad():
        y = net(x).argmax(1)
    detectors = [D.MCDropout(clf, samples=8), D.Energy(clf), D.Mahalanobis(clf), D.KNN(clf, k=3),
                 D.Entropy(clf)]
    for d in detectors:
        d.fit(x[:60], y[:60]) if isinstance(d, D.Mahalanobis) else d.fit(x[:60])
        d.calibrate(x[60:100], fpr=0.1)
    return clf, x, y, detectors


def _split(n: int, cuts: list[int]) -> list[slice]:
    edges = [0] + sorted({c % n for c in cuts if 0 < c % n}) + [n]
    return [slice(a, b) for a, b in zip(edges, edges[1:])]


@given(st.randoms(use_true_random=False), st.lists(st.integers(1, 200), max_size=4))
@SETTINGS
def test_detector_scores_do_not_depend_on_the_batch(setup, rnd, cuts):
    _, x, _, detectors = setup
    test = x[100:]
    order = list(range(len(test)))
    rnd.shuffle(order)
    for d in detectors:
        whole = d.score(test)
        shuffled = d.score(test[order])
        np.testing.assert_allclose(shuffled, whole[order], rtol=1e-5, atol=1e-5, err_msg=d.name)
        parts = np.concatenate([d.score(test[sl]) for sl in _split(len(test), cuts)])
        np.testing.assert_allclose(parts, whole, rtol=1e-5, atol=1e-5, err_msg=d.name)
        np.testing.assert_array_equal(d.predict(test[order]), d.predict(test)[order])


@given(st.randoms(use_true_random=False), st.sampled_from(["pgd", "apgd", "square"]))
@SETTINGS
def test_attacks_answer_per_point_in_any_order(setup, rnd, name):
    clf, x, y, _ = setup
    xs, ys = x[:32], y[:32]
    attack = {"pgd": mg.attacks.PGD(norm="linf", steps=10, restarts=2),
              "apgd": mg.attacks.APGD(norm="l2", steps=10),
              "square": mg.attacks.Square(norm="linf", queries=50)}[name]
    whole = attack(clf, xs, ys, eps=0.1)
    order = list(range(len(xs)))
    rnd.shuffle(order)
    moved = attack(clf, xs[order], ys[order], eps=0.1, ids=torch.tensor(order))
    assert torch.equal(moved.success[0], whole.success[0][order])
    torch.testing.assert_close(moved.adversarial[0], whole.adversarial[0][order], rtol=0, atol=1e-6)


@given(st.integers(1, 5))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_smoothing_certifies_each_point_on_its_own(setup, k):
    """A point's noise is keyed by (random_state, its index): certifying fewer points changes none of them."""
    clf, x, _, _ = setup
    kw = dict(sigma=0.25, n0=20, n=200, random_state=3)
    whole = mg.certify.smoothing(clf, x[:6], **kw)
    part = mg.certify.smoothing(clf, x[:k], **kw)
    np.testing.assert_array_equal(part.radius, whole.radius[:k])
    np.testing.assert_array_equal(part.predictions, whole.predictions[:k])


@given(st.randoms(use_true_random=False))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_smoothing_answers_per_point_in_any_order(setup, rnd):
    """With the points named (ids), shuffling the rows permutes the certificates and changes none."""
    clf, x, _, _ = setup
    xs = x[:6]
    order = list(range(len(xs)))
    rnd.shuffle(order)
    kw = dict(sigma=0.25, n0=20, n=200, random_state=3)
    whole = mg.certify.smoothing(clf, xs, **kw)
    moved = mg.certify.smoothing(clf, xs[order], ids=order, **kw)
    np.testing.assert_array_equal(moved.radius, whole.radius[order])
    np.testing.assert_array_equal(moved.predictions, whole.predictions[order])
