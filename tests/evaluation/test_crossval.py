"""5×2cv t and combined F vs mlxtend with the same seeds; Nadeau–Bengio by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import t as t_dist
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from mathguard.errors import InputError
from mathguard.evaluation import compare_cv

import mlxtend.evaluate as mlx


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:, :10], y


@pytest.mark.parametrize("seed", [1, 7])
def test_5x2cv_matches_mlxtend(data, seed):
    X, y = data
    a, b = GaussianNB(), DecisionTreeClassifier(max_depth=3, random_state=0)
    ours = compare_cv(a, b, X, y, scheme="5x2", random_state=seed)
    t_ref, p_ref = mlx.paired_ttest_5x2cv(a, b, X, y, random_seed=seed)
    f_ref, pf_ref = mlx.combined_ftest_5x2cv(a, b, X, y, random_seed=seed)
    assert ours.statistic == pytest.approx(-t_ref, rel=1e-10)  # ours is B − A, mlxtend's A − B
    assert ours.p_value == pytest.approx(p_ref, rel=1e-10)
    assert ours.f_statistic == pytest.approx(f_ref, rel=1e-10)
    assert ours.f_p_value == pytest.approx(pf_ref, rel=1e-10)
    assert ours.differences.size == 10


def test_nadeau_bengio_by_hand(data):
    X, y = data
    a, b = GaussianNB(), LogisticRegression(max_iter=3000)
    ours = compare_cv(a, b, X, y, scheme="kfold-corrected", n_splits=5, n_repeats=3, random_state=0)
    d = []
    for tr, te in RepeatedKFold(n_splits=5, n_repeats=3, random_state=0).split(X):
        sa = clone(a).fit(X[tr], y[tr]).score(X[te], y[te])
        sb = clone(b).fit(X[tr], y[tr]).score(X[te], y[te])
        d.append(sb - sa)
    d = np.array(d)
    t = d.mean() / np.sqrt((1 / 15 + 1 / 4) * d.var(ddof=1))  # n_test / n_train = 1/(k-1) for 5-fold
    assert ours.statistic == pytest.approx(t, rel=1e-10)
    assert ours.p_value == pytest.approx(2 * t_dist.sf(abs(ours.statistic), 14))
    # the correction makes the test more conservative than the naive paired t
    naive = d.mean() / np.sqrt(d.var(ddof=1) / 15)
    assert abs(ours.statistic) < abs(naive)
    assert ours.report().findings


def test_bad_input(data):
    X, y = data
    with pytest.raises(InputError, match="^scheme must be one of"):
        compare_cv(GaussianNB(), GaussianNB(), X, y, scheme="3x3")
    with pytest.raises(InputError, match="length mismatch"):
        compare_cv(GaussianNB(), GaussianNB(), X, y[:-1])
    with pytest.raises(InputError, match="single class"):
        compare_cv(GaussianNB(), GaussianNB(), X, np.zeros_like(y))
