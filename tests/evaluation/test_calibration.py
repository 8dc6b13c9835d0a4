"""Calibration: reliability vs scikit-learn, ECE by hand and vs netcal, Brier/NLL, temperature scaling, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax, softmax
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import train_test_split

from mathguard.errors import InputError
from mathguard.evaluation import calibration, fit_temperature, reliability


@pytest.fixture(scope="module")
def digits_logits():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.5, random_state=0, stratify=y)
    lr = LogisticRegression(C=10.0, max_iter=3000).fit(Xtr[:100], ytr[:100])  # small sample: ~89 % accurate
    return lr.decision_function(Xte), yte


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_matches_sklearn_calibration_curve(strategy, cancer_preds):
    y, p = cancer_preds["y"], cancer_preds["proba_b"][:, 1]
    rel = reliability(y == 1, p, n_bins=10, strategy=strategy)
    true, pred = calibration_curve(y, p, n_bins=10, strategy=strategy)
    seen = rel.count > 0
    np.testing.assert_allclose(rel.frequency[seen], true, rtol=1e-12)
    np.testing.assert_allclose(rel.confidence[seen], pred, rtol=1e-12)


def test_ece_mce_hand_computed():
    # 3 bins of width 1/3. Top-label confidences .2(not possible for 2 classes) -> use 3 classes.
    P = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    y = np.array([0, 1, 0, 0, 2])
    # bins by top-label confidence (.9,.9 | .5,.5 | .8): bin [1/3,2/3): conf .5, acc 1 -> gap .5 (2 items);
    # bin [2/3,1]: conf (.9+.9+.8)/3, acc 2/3 -> gap |2/3 - 2.6/3| = .2 (3 items)
    cal = calibration(y, P, n_bins=3)
    assert cal.ece == pytest.approx((2 * 0.5 + 3 * 0.2) / 5)
    assert cal.mce == pytest.approx(0.5)
    assert cal.accuracy == pytest.approx(0.8) and cal.mean_confidence == pytest.approx(3.6 / 5)


def test_ece_matches_netcal(digits_logits):
    import netcal.metrics as netcal
    z, y = digits_logits
    P = softmax(z * 3, axis=1)  # overconfident so the ECE is well away from 0
    ours = calibration(y, P, n_bins=10).ece
    ref = netcal.ECE(bins=10).measure(P, y)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_brier_nll_and_exact_decomposition(cancer_preds):
    y, P = cancer_preds["y"], cancer_preds["proba_b"]
    cal = calibration(y, P)
    assert cal.brier == pytest.approx(brier_score_loss(y, P[:, 1]), rel=1e-12)
    assert cal.nll == pytest.approx(log_loss(y, P), rel=1e-10)
    # forecasts that are constant within each bin make the Murphy decomposition exact
    rng = np.random.default_rng(0)
    f = rng.choice([0.05, 0.25, 0.55, 0.85], 2000)
    yy = (rng.random(2000) < f).astype(int)
    c = calibration(yy, f, n_bins=10)
    assert c.brier == pytest.approx(c.brier_reliability - c.brier_resolution + c.brier_uncertainty, abs=1e-12)


def test_classwise_ece_is_mean_of_one_vs_rest(digits_logits):
    z, y = digits_logits
    P = softmax(z, axis=1)
    per_class = [reliability(y == c, P[:, c], n_bins=15).ece for c in range(10)]
    assert calibration(y, P).classwise_ece == pytest.approx(np.mean(per_class))


def test_temperature_fixes_overconfident_model(digits_logits):
    z, y = digits_logits
    zv, zt, yv, yt = train_test_split(z * 4.0, y, test_size=0.5, random_state=0, stratify=y)
    T = fit_temperature(yv, zv)
    assert T.temperature > 1.5 and T.nll_after < T.nll_before
    before, after = -log_softmax(zt, 1)[np.arange(yt.size), yt].mean(), log_loss(yt, T.apply(zt), labels=range(10))
    assert after < before  # held-out NLL improves too
    # optimality: d NLL / d log T = 0 at the fitted T (central difference)
    def nll(lt):
        return -log_softmax(zv * np.exp(-lt), 1)[np.arange(yv.size), yv].mean()
    lt, h = np.log(T.temperature), 1e-4
    assert abs((nll(lt + h) - nll(lt - h)) / (2 * h)) < 1e-4
    cal = calibration(yt, softmax(zt, 1), logits=zt)
    finding = cal.findings()[0]
    assert finding.id == "stats.overconfident" and "temperature" in finding.title
    assert cal.ece_after_temperature < cal.ece
    rep = cal.report()
    assert rep.figures and rep.metrics["ece"] == cal.ece


def test_calibrated_model_has_no_warning(cancer_preds):
    cal = calibration(cancer_preds["y"], cancer_preds["proba_b"], threshold=0.1)
    assert cal.findings()[0].id == "stats.calibrated"


def test_bad_input():
    P = np.array([[0.6, 0.3], [0.2, 0.8]])
    with pytest.raises(InputError, match="row 0 sums to 0.9"):
        calibration([0, 1], P)
    with pytest.raises(InputError, match="single class"):
        calibration([1, 1], np.array([[0.2, 0.8], [0.4, 0.6]]))
    with pytest.raises(InputError, match="length mismatch"):
        calibration([0, 1, 1], np.array([[0.2, 0.8], [0.4, 0.6]]))
    with pytest.raises(InputError, match="labels in 0..1"):
        calibration([0, 2], np.array([[0.2, 0.8], [0.4, 0.6]]))
    with pytest.raises(InputError, match="^strategy must be one of .uniform., .quantile."):
        reliability(np.array([True]), np.array([0.1]), strategy="kmeans")
    with pytest.raises(InputError, match="logits_val must be"):
        fit_temperature([0, 1, 0], np.zeros(3))


def test_underconfident_model_is_flagged(digits_logits):
    z, y = digits_logits
    cal = calibration(y, softmax(z * 0.3, axis=1), logits=z * 0.3)
    assert cal.findings()[0].id == "stats.underconfident"
    assert cal.temperature.temperature < 1 and cal.mean_confidence < cal.accuracy
