"""The protocol: conformal guarantee, one shared forward pass, clear errors, the user's mode kept."""

import numpy as np
import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.detect.conformal import conformal_p_values, conformal_threshold

D = mg.detect


@pytest.fixture(scope="module")
def fitted(digits_setup):
    s = digits_setup
    dets = [D.MaxSoftmax(s.clf), D.Entropy(s.clf), D.Energy(s.clf), D.ODIN(s.clf), D.Mahalanobis(s.clf),
            D.KNN(s.clf), D.ActivationEntropy(s.clf), D.Reconstruction(s.clf, epochs=10),
            D.FeatureSqueezing(s.clf), D.GaussianMixture(s.clf, n_components=2, covariance_type="diag"),
            D.MCDropout(s.clf, samples=5)]
    for d in dets:
        d.fit(s.x_train, s.y_train)
    return dets


def test_false_alarm_rate_holds_over_200_calibration_splits(digits_setup, fitted):
    """Mean false-alarm rate over random calibration/test splits of clean digits ≤ fpr + Monte-Carlo error."""
    s = digits_setup
    fpr, n_cal, reps = 0.1, 300, 200
    pool = D.score_many(fitted, s.x_pool)  # one shared pass; splits below only re-slice the scores
    rng = np.random.default_rng(0)
    n = len(s.x_pool)
    for det, scores in zip(fitted, pool):
        rates = []
        for _ in range(reps):
            perm = rng.permutation(n)
            cal, test = np.sort(scores[perm[:n_cal]]), scores[perm[n_cal:]]
            rates.append(float((test > conformal_threshold(cal, fpr)).mean()))
        se = np.std(rates) / np.sqrt(reps)
        assert np.mean(rates) <= fpr + 3 * se, (det.name, np.mean(rates))
        assert np.mean(rates) >= fpr - 1 / (n_cal + 1) - 3 * se - 0.02, det.name  # not vacuous either
    # and the detector's own calibrate() takes exactly that threshold
    det = fitted[2].calibrate(s.x_pool[:n_cal], fpr=fpr)
    assert det.threshold == conformal_threshold(np.sort(pool[2][:n_cal]), fpr)
    assert det.n_calibration == n_cal and det.fpr == fpr


def test_conformal_guarantee_is_exact_on_continuous_scores():
    rng = np.random.default_rng(1)
    n, fpr = 19, 0.1
    k = int(np.ceil((1 - fpr) * (n + 1)))
    rates = [(rng.random(50) > conformal_threshold(np.sort(rng.random(n)), fpr)).mean() for _ in range(20000)]
    expected = (n + 1 - k) / (n + 1)  # = 0.1 here: the bound is attained
    assert abs(np.mean(rates) - expected) < 4 * np.std(rates) / np.sqrt(len(rates))
    cal = np.sort(rng.random(n))
    s = rng.random(1000)
    # flag (score above threshold) ⇔ conformal p-value ≤ fpr
    np.testing.assert_array_equal(s > conformal_threshold(cal, fpr), conformal_p_values(cal, s) <= fpr)


def test_p_values_and_predict(digits_setup, fitted):
    s = digits_setup
    det = fitted[4].calibrate(s.x_pool[:300], fpr=0.05)
    x = s.x_pool[300:]
    p, flagged = det.p_values(x), det.predict(x)
    assert flagged.dtype == bool and ((p > 0) & (p <= 1)).all()
    np.testing.assert_array_equal(flagged, p <= 0.05)
    noise = np.random.default_rng(0).random((100, 64)).astype(np.float32)
    assert det.predict(noise).mean() > 3 * max(flagged.mean(), 0.05)  # uniform noise stands out
    assert np.median(det.p_values(noise)) < np.median(p)


def test_one_forward_pass_serves_every_detector(digits_setup):
    s = digits_setup
    calls = []
    net = s.clf.module
    handle = net.register_forward_hook(lambda *_: calls.append(1))
    try:
        dets = [D.Energy(s.clf), D.MaxSoftmax(s.clf), D.Entropy(s.clf), D.Mahalanobis(s.clf).fit(s.x_train),
                D.KNN(s.clf).fit(s.x_train)]
        calls.clear()
        D.score_many(dets, s.x_pool[:300])
        assert len(calls) == 1
        calls.clear()
        for d in dets:
            d.score(s.x_pool[:300])
        assert len(calls) == 5
    finally:
        handle.remove()


def test_layers_are_named_as_in_the_users_model(digits_setup):
    s = digits_setup
    a = D.Mahalanobis(s.clf, layer="4").fit(s.x_train, s.y_train)  # the ReLU before the last Linear
    b = D.Mahalanobis(s.clf).fit(s.x_train, s.y_train)            # 'penultimate' = the same features
    np.testing.assert_allclose(a.score(s.x_pool[:50]), b.score(s.x_pool[:50]), rtol=1e-10)
    with pytest.raises(mg.InputError, match=r"no layer 'features.3'.*'0', '1', '2'"):
        D.Mahalanobis(s.clf, layer="features.3")
    clf = mg.wrap(s.clf.module, input_shape=(64,), mean=0.3, std=0.4)  # normalisation does not shift names
    D.KNN(clf, layer="2").fit(s.x_train)


def test_bad_input_is_one_clear_error(digits_setup):
    s = digits_setup
    with pytest.raises(mg.InputError, match="not fitted"):
        D.Mahalanobis(s.clf).score(s.x_pool)
    with pytest.raises(mg.InputError, match="not calibrated"):
        D.Energy(s.clf).predict(s.x_pool)
    for bad in (0.0, 1.0, -0.1, 1.5, float("nan"), "a"):
        with pytest.raises(mg.InputError, match="fpr"):
            D.Energy(s.clf).calibrate(s.x_pool[:100], fpr=bad)
    with pytest.raises(mg.InputError, match="needs at least 99 calibration inputs, got 50"):
        D.Energy(s.clf).calibrate(s.x_pool[:50], fpr=0.01)
    D.Energy(s.clf).calibrate(s.x_pool[:99], fpr=0.01)  # 1/(n+1) exactly is allowed
    x = s.x_pool[:10].copy()
    x[3, 5] = np.nan
    with pytest.raises(mg.InputError, match="NaN"):
        D.Energy(s.clf).score(x)
    with pytest.raises(mg.InputError, match="shape"):
        D.Energy(s.clf).score(np.zeros((4, 3), np.float32))
    with pytest.raises(mg.InputError, match="temperature"):
        D.Energy(s.clf, temperature=0)
    with pytest.raises(mg.InputError, match="shrinkage"):
        D.Mahalanobis(s.clf, shrinkage=2)
    with pytest.raises(mg.InputError, match="singular"):
        D.Mahalanobis(s.clf, layer="input", shrinkage=None).fit(s.x_train, s.y_train)  # constant border pixels


def test_broken_model_outputs_are_refused(digits_setup):
    class NaNNet(nn.Module):
        def forward(self, x):
            return torch.full((len(x), 3), float("nan"))

    clf = mg.wrap(NaNNet(), input_shape=(4,), n_classes=3)
    with pytest.raises(mg.ModelError, match="NaN"):
        D.Energy(clf).score(np.zeros((5, 4), np.float32))


def test_user_mode_is_restored(digits_setup):
    s = digits_setup
    s.clf.module.train()
    try:
        a = D.Energy(s.clf).score(s.x_pool[:20])
        assert s.clf.module.training
        s.clf.module.eval()
        np.testing.assert_allclose(a, D.Energy(s.clf).score(s.x_pool[:20]))  # scored with dropout off
    finally:
        s.clf.module.eval()


def test_combined_needs_calibrated_members_and_keeps_the_guarantee(digits_setup):
    s = digits_setup
    e = D.Energy(s.clf)
    with pytest.raises(mg.InputError, match="not calibrated"):
        D.Combined([e, D.MaxSoftmax(s.clf)])
    members = [D.Energy(s.clf).calibrate(s.x_pool[:250], fpr=0.1),
               D.KNN(s.clf).fit(s.x_train).calibrate(s.x_pool[:250], fpr=0.1)]
    for method in ("fisher", "bonferroni"):
        comb = D.Combined(members, method=method).calibrate(s.x_pool[250:520], fpr=0.1)
        assert comb.predict(s.x_pool[520:]).mean() < 0.1 + 3 * np.sqrt(0.09 / 277) + 0.03
        noise = np.random.default_rng(0).random((50, 64)).astype(np.float32)
        best_member = max(m.predict(noise).mean() for m in members)
        assert comb.predict(noise).mean() >= min(best_member - 0.1, 0.7)
