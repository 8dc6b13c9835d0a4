"""Uncertainty sampling: the scores are the textbook ones, and on digits it beats random sampling."""

import warnings

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

import mathguard as mg
from mathguard.errors import InputError
from mathguard.info.active import uncertainty

P = np.array([[0.98, 0.01, 0.01],   # sure
              [0.40, 0.35, 0.25],   # spread out: highest entropy
              [0.50, 0.49, 0.01],   # two-way tie: smallest margin
              [0.34, 0.33, 0.33]])  # least confident and highest entropy


def test_scores_match_their_definitions():
    np.testing.assert_allclose(uncertainty(P, "entropy"), scipy_entropy(P, base=2, axis=1))
    np.testing.assert_allclose(uncertainty(P, "margin"), 1 - np.array([0.97, 0.05, 0.01, 0.01]))
    np.testing.assert_allclose(uncertainty(P, "least-confident"), 1 - P.max(axis=1))


def test_select_uncertain_orders_by_each_score():
    assert mg.info.select_uncertain(P, k=2, strategy="entropy").tolist() == [3, 1]
    assert mg.info.select_uncertain(P, k=2, strategy="margin").tolist() == [2, 3]  # equal margins: lower index first
    assert mg.info.select_uncertain(P, k=4, strategy="least-confident").tolist() == [3, 1, 2, 0]


def test_select_diverse_spreads_out_over_near_duplicates():
    rng = np.random.default_rng(0)
    # 5 near-identical confusing points at the origin and 50 slightly less uncertain ones far away
    X = np.vstack([rng.normal(0, 0.01, (5, 2)), rng.normal(5, 0.5, (50, 2))])
    p1 = np.r_[np.full(5, 0.5), np.full(50, 0.55)]
    proba = np.column_stack([p1, 1 - p1])
    top = mg.info.select_uncertain(proba, k=2)
    diverse = mg.info.select_diverse(proba, X, k=2)
    assert (top < 5).all()                       # plain top-k takes two copies of the same point
    assert sorted(diverse >= 5) == [False, True]  # diverse takes one from each cluster
    assert diverse[0] == top[0]                  # and starts from the most uncertain


@pytest.mark.parametrize("call, message", [
    (lambda: mg.info.select_uncertain(P, k=5), "between 1 and the pool size 4"),
    (lambda: mg.info.select_uncertain(P, k=0), "between 1"),
    (lambda: mg.info.select_uncertain(P, k=1, strategy="variance"), "strategy must be one of"),
    (lambda: mg.info.select_uncertain(P * 0.5, k=1), "sum to 1"),
    (lambda: mg.info.select_diverse(P, np.ones((3, 2)), k=1), "one row per row"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_margin_sampling_saves_labels_on_digits():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xp, Xt, yp, yt = train_test_split(X / 16, y, test_size=0.3, random_state=0, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence chatter on tiny labelled sets
        curve = mg.info.active_learning_curve(LogisticRegression(max_iter=500), Xp, yp, Xt, yt, initial=20,
                                              batch=10, rounds=15, strategy="margin", repeats=3)
    # same budgets and seeds: the uncertainty curve lies above the random one on average ...
    assert curve.strategy_accuracy.mean() > curve.random_accuracy.mean() + 0.01
    assert curve.strategy_accuracy[0] == curve.random_accuracy[0]  # identical start
    # ... and reaches random sampling's final accuracy with fewer labels
    ours, rand = curve.labels_to_reach(curve.random_accuracy[-1])
    assert ours is not None and ours < rand
    finding = curve.report().findings[0]
    assert finding.id == "info.active-learning" and finding.evidence["labels_saved_fraction"] > 0.1
