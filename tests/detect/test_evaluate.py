"""evaluate_detectors() and the adaptive attack: metrics equal scikit-learn's, claims are re-checked, findings fire."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import mathguard as mg

D = mg.detect


@pytest.fixture(scope="module")
def calibrated(digits_setup):
    s = digits_setup
    cal = s.x_pool[:300]
    return [D.MaxSoftmax(s.clf).calibrate(cal, fpr=0.05), D.Energy(s.clf).calibrate(cal, fpr=0.05),
            D.Mahalanobis(s.clf, layer="input").fit(s.x_train, s.y_train).calibrate(cal, fpr=0.05)]


def test_evaluate_reports_every_scenario_with_reference_metrics(digits_setup, calibrated):
    s = digits_setup
    x, y = s.x_pool[300:], s.y_pool[300:]
    noise = np.clip(x + np.random.default_rng(0).normal(0, 0.4, x.shape), 0, 1).astype(np.float32)
    rep = D.evaluate_detectors(calibrated, x, shifts={"noise": noise}, attacks={"pgd": 0.1}, y=y, max_attack_points=120,
                     adaptive_steps=30)
    m = rep.metrics
    assert m["detectors"] == ["max-softmax", "energy", "mahalanobis"]
    assert set(m["results"]) == {"noise", "pgd eps=0.1"}
    clean, shifted = calibrated[1].score(x), calibrated[1].score(noise)
    ref = roc_auc_score(np.r_[np.zeros(len(x)), np.ones(len(noise))], np.r_[clean, shifted])
    assert m["results"]["noise"]["energy"]["auroc"] == pytest.approx(ref, abs=1e-12)
    assert m["results"]["noise"]["mahalanobis"]["auroc"] > 0.95  # pixel noise is far off the digit manifold
    assert m["clean_fpr"]["energy"] == pytest.approx(calibrated[1].predict(x).mean())
    assert m["attacks"]["pgd"]["success_rate"] > 0.5
    assert set(m["adaptive"]) == {"max-softmax eps=0.1", "energy eps=0.1", "mahalanobis eps=0.1"}
    assert len(rep.figures) == 2
    html = rep.to_html()
    assert "Detector ROC curves" in html
    rep.to_json()  # strict JSON (no NaN leaks)


def test_adaptive_attack_claims_are_real_and_within_budget(digits_setup, calibrated):
    s = digits_setup
    det = calibrated[0]
    x, y = torch.tensor(s.x_pool[300:400]), torch.tensor(s.y_pool[300:400])
    keep = s.clf.predict(x) == y
    res = D.adaptive_attack(det, x[keep], y[keep], eps=0.1, steps=40)
    adv = torch.tensor(res.adversarial)
    assert (adv - x[keep]).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    wrong = (s.clf.predict(adv) != y[keep]).numpy()
    np.testing.assert_array_equal(res.misclassified, wrong)
    np.testing.assert_array_equal(res.evaded, wrong & ~det.predict(adv.numpy()))
    assert res.evasion_rate > 0.3  # max-softmax alone does not stop a white-box attacker
    rep = res.report()
    assert rep.metrics["evasion_rate"] == res.evasion_rate and rep.metrics["n"] == int(keep.sum())
    rep.to_json()


def test_the_adaptive_attack_breaks_max_softmax(digits_setup, calibrated):
    s = digits_setup
    rep = D.evaluate_detectors(calibrated[:1], s.x_pool[300:], attacks={"pgd": 0.1}, y=s.y_pool[300:],
                     max_attack_points=120, adaptive_steps=40)
    info = rep.metrics["adaptive"]["max-softmax eps=0.1"]
    assert info["static_tpr"] > 0.8  # early-stopped PGD lands just over the boundary: low confidence, caught
    broken = [f for f in rep.findings if f.id == "detectors.broken-by-adaptive-attack"]
    assert broken and broken[0].severity == mg.Severity.HIGH
    assert info["tpr"] <= 0.5 * info["static_tpr"]


def test_a_false_alarm_rate_above_the_promise_is_a_finding(digits_setup, calibrated):
    s = digits_setup
    shifted = np.clip(s.x_pool[300:] * 0.6 + 0.2, 0, 1).astype(np.float32)  # not what was calibrated on
    rep = D.evaluate_detectors(calibrated, shifted, adaptive=False)
    ids = [f.id for f in rep.findings]
    assert "detectors.fpr-not-met" in ids
    clean = D.evaluate_detectors(calibrated, s.x_pool[300:], adaptive=False)
    assert "detectors.fpr-not-met" not in [f.id for f in clean.findings]


def test_evaluate_refuses_what_it_cannot_judge(digits_setup, calibrated):
    s = digits_setup
    with pytest.raises(mg.InputError, match="not calibrated"):
        D.evaluate_detectors([D.Energy(s.clf)], s.x_pool)
    with pytest.raises(mg.InputError, match="labels"):
        D.evaluate_detectors(calibrated, s.x_pool, attacks={"pgd": 0.1})
    with pytest.raises(mg.InputError, match="unknown attack"):
        D.evaluate_detectors(calibrated, s.x_pool, attacks={"zoo": 0.1}, y=s.y_pool)
    with pytest.raises(mg.InputError, match="eps"):
        D.adaptive_attack(calibrated[0], s.x_pool[:5], s.y_pool[:5], eps=[0.1, 0.2])
    with pytest.raises(mg.InputError, match="no detectors"):
        D.evaluate_detectors([], s.x_pool)
