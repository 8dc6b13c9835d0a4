"""Bias–variance vs mlxtend in expectation; exact MSE identity; known noise; the curve."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mathguard.errors import InputError
from mathguard.evaluation import bias_variance, bias_variance_curve

import mlxtend.evaluate as mlx


@pytest.fixture(scope="module")
def split():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def test_zero_one_matches_mlxtend_in_expectation(split):
    Xtr, Xte, ytr, yte = split
    ours = bias_variance(lambda: DecisionTreeClassifier(random_state=0), Xtr, ytr, loss="0-1", rounds=100,
                         X_test=Xte, y_test=yte, random_state=0)
    loss, bias, var = mlx.bias_variance_decomp(DecisionTreeClassifier(random_state=0), Xtr, ytr, Xte, yte,
                                               loss="0-1_loss", num_rounds=100, random_seed=1)
    # different bootstrap draws: agree within Monte Carlo error (sd of a 100-round average ~ 0.005)
    assert ours.expected_loss == pytest.approx(loss, abs=0.015)
    assert ours.bias == pytest.approx(bias, abs=0.03)
    assert ours.variance == pytest.approx(var, abs=0.015)
    assert ours.variance > 0.02  # an unpruned tree has visible variance


def test_mse_identity_and_mlxtend(split):
    Xtr, Xte, ytr, yte = split
    yr, yre = Xtr[:, 0], Xte[:, 0]  # regress mean radius on the other features
    Xr, Xre = Xtr[:, 1:], Xte[:, 1:]
    ours = bias_variance(lambda: DecisionTreeRegressor(max_depth=4, random_state=0), Xr, yr, loss="mse",
                         rounds=60, X_test=Xre, y_test=yre, random_state=0)
    assert ours.expected_loss == pytest.approx(ours.bias + ours.variance, rel=1e-12)  # exact for squared loss
    loss, bias, var = mlx.bias_variance_decomp(DecisionTreeRegressor(max_depth=4, random_state=0), Xr, yr, Xre,
                                               yre, loss="mse", num_rounds=60, random_seed=0)
    assert ours.expected_loss == pytest.approx(loss, rel=0.1)
    assert ours.variance == pytest.approx(var, rel=0.2)


def test_known_noise_is_separated():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (600, 1))
    f = 2 * X[:, 0]
    y = f + rng.normal(0, 0.5, 600)
    res = bias_variance(Ridge, X[:400], y[:400], loss="mse", rounds=30, X_test=X[400:], y_test=y[400:],
                        f_test=f[400:])
    assert res.noise == pytest.approx(0.25, rel=0.2)  # sigma² = 0.25
    assert res.bias < 0.01 and res.variance < 0.01  # a linear model on a linear truth
    assert res.expected_loss == pytest.approx(res.bias + res.variance + res.noise, rel=0.15)


def test_curve_is_u_shaped_and_flags_variance(split):
    Xtr, _, ytr, _ = split
    rep = bias_variance_curve(lambda d: DecisionTreeClassifier(max_depth=d, random_state=0), [1, 2, 4, None],
                              Xtr, ytr, param_name="max_depth", rounds=20)
    bias, var = rep.metrics["bias"], rep.metrics["variance"]
    assert var[-1] > var[0] and bias[0] >= bias[-1]
    assert rep.figures
    deep = bias_variance(lambda: DecisionTreeClassifier(random_state=0), Xtr, ytr, rounds=20)
    assert deep.findings(variance_share=0.3)[0].id == "stats.high-variance"


def test_bad_input(split):
    Xtr, _, ytr, _ = split
    with pytest.raises(InputError, match="^loss must be one of"):
        bias_variance(DecisionTreeClassifier, Xtr, ytr, loss="hinge")
    with pytest.raises(InputError, match="length mismatch"):
        bias_variance(DecisionTreeClassifier, Xtr, ytr[:-1])
    with pytest.raises(InputError, match="callable"):
        bias_variance(DecisionTreeClassifier(), Xtr, ytr)
