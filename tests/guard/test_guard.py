"""The guard: per-row decisions with reasons, the calibrated abstention rate, fallback, logging, reports."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import mathguard as mg

D = mg.detect


@pytest.fixture(scope="module")
def parts(digits_setup):
    s = digits_setup
    cal = s.x_pool[:300]
    energy = D.Energy(s.clf).calibrate(cal, fpr=0.05)
    maha = D.Mahalanobis(s.clf).fit(s.x_train, s.y_train).calibrate(cal, fpr=0.05)
    return s, mg.drift.profile(s.x_train), energy, maha


def test_a_mixed_batch_gets_per_row_reasons_and_no_exception(parts):
    s, prof, energy, maha = parts
    guard = mg.Guard(s.clf, profile=prof, detectors=[energy, maha])
    x = s.x_pool[300:310].copy()
    x[1, 20] = np.nan
    x[2, 0] = 5.0                                        # pixel 0 is blank in every training digit
    x[3] = np.random.default_rng(0).random(64)           # a noise image
    out = guard.predict(x)
    assert out.layer[1] == "validation" and out.reasons[1] == ["feature 'x20' = NaN"]
    assert out.layer[2] == "validation" and "feature 'x0' = 5 outside the training range" in out.reasons[2][0]
    assert out.layer[3] == "validation" and out.reasons[3][-1].startswith("… and")
    assert (out.labels[[1, 2, 3]] == -1).all() and np.isnan(out.proba[[1, 2, 3]]).all()
    assert out.source[1] == "abstain" and np.isnan(out.scores["energy"][1])
    # ragged rows and text are reasons too
    ragged = guard.predict([list(s.x_pool[0]), list(s.x_pool[1][:63]), ["a"] * 64])
    assert ragged.reasons[1] == ["expected 64 features, got 63"]
    assert ragged.reasons[2][0] == "feature 'x0' is not a number" and ragged.layer[0] != "validation"


def test_guard_equals_the_bare_model_on_accepted_rows(parts):
    s, prof, energy, maha = parts
    guard = mg.Guard(s.clf, profile=prof, detectors=[energy, maha])
    x = s.x_pool[300:]
    out = guard.predict(x)
    bare = s.clf.proba(torch.tensor(x)).detach().double().numpy()
    acc = out.accepted
    assert acc.mean() > 0.8
    np.testing.assert_allclose(out.proba[acc], bare[acc], atol=1e-6)
    np.testing.assert_array_equal(out.labels[acc], bare[acc].argmax(1))
    scored = np.array([lay != "validation" for lay in out.layer])
    np.testing.assert_allclose(out.scores["energy"][scored], energy.score(x[scored]), rtol=1e-6)  # one shared pass
    np.testing.assert_allclose(out.p_values["mahalanobis"][scored], maha.p_values(x[scored]), rtol=1e-9)
    assert np.isnan(out.scores["energy"][~scored]).all()


def test_clean_abstention_stays_within_the_calibrated_rate(parts):
    s, _, energy, _ = parts
    guard = mg.Guard(s.clf, detectors=[energy])
    x = s.x_pool[300:]
    rate = guard.predict(x).abstained.mean()
    assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / len(x))
    assert guard.report().metrics["abstention_rate"] == pytest.approx(rate)


def test_under_attack_accepted_accuracy_is_reported_next_to_the_unguarded(parts):
    s, prof, energy, maha = parts
    guard = mg.Guard(s.clf, profile=prof, detectors=[energy, maha])
    x, y = torch.tensor(s.x_pool[300:500]), torch.tensor(s.y_pool[300:500])
    adv = mg.attacks.PGD(steps=20)(s.clf, x, y, eps=0.15).adversarial[0].numpy()
    guard.predict(adv, y=y.numpy())
    m = guard.report().metrics
    assert m["unguarded_accuracy"] < 0.5
    assert m["accepted_accuracy"] > m["unguarded_accuracy"]  # the guard refuses mostly the fooled rows
    assert m["abstention_rate"] > 0.2


def test_fallback_answers_refused_rows_and_a_failing_fallback_is_caught(parts):
    s, prof, energy, _ = parts
    x = s.x_pool[300:340].copy()
    x[0, 5] = np.inf
    calls = []

    def rule(rows):
        calls.append(len(rows))
        return np.zeros(len(rows), dtype=np.int64)  # "class 0" for anything refused

    out = mg.Guard(s.clf, profile=prof, detectors=[energy], fallback=rule).predict(x)
    assert calls == [int(out.abstained.sum())] and out.source[0] == "fallback" and out.labels[0] == 0
    assert out.abstained[0] and out.proba[0].tolist() == [1.0] + [0.0] * 9
    np.testing.assert_allclose(mg.Guard(s.clf, profile=prof, detectors=[energy], fallback=rule)
                               .predict_proba(x)[out.accepted], out.proba[out.accepted])

    def broken(rows):
        raise RuntimeError("queue is down")

    guard = mg.Guard(s.clf, profile=prof, fallback=broken)
    out = guard.predict(x)
    assert out.labels[0] == -1 and out.reasons[0][-1] == "fallback failed: RuntimeError: queue is down"
    assert (out.labels[out.accepted] >= 0).all() and (out.labels[out.abstained] == -1).all()
    assert [f.id for f in guard.report().findings] == ["monitor.fallback-failed"]
    garbage = mg.Guard(s.clf, profile=prof, fallback=lambda rows: np.full((len(rows), 10), 0.5)).predict(x)
    assert "summing to 1" in garbage.reasons[0][-1]


def test_every_decision_is_logged_and_a_failing_monitor_costs_nothing(parts):
    s, prof, energy, _ = parts

    class Recorder:
        def __init__(self):
            self.calls = []

        def log(self, features, proba, labels=None, alarms=None):
            self.calls.append((features, proba, labels, alarms))

    rec = Recorder()
    x = s.x_pool[300:360].copy()
    x[0, 0] = np.nan
    with mg.Guard(s.clf, profile=prof, detectors=[energy], monitor=rec) as guard:
        out = guard.predict(x, y=s.y_pool[300:360])
    (features, proba, labels, alarms), = rec.calls  # delivered by the time the guard is closed
    assert guard.log_counts.logged_rows == 59 and guard.log_counts.healthy
    assert len(features) == 59 and np.isfinite(features).all()  # the NaN row is not an event
    np.testing.assert_array_equal(alarms, out.abstained[1:])
    np.testing.assert_allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(labels, s.y_pool[301:360])

    class Down:
        def log(self, *a, **k):
            raise ConnectionError("refused")

    guard = mg.Guard(s.clf, detectors=[energy], monitor=Down())
    assert (guard.predict(x[1:]).labels >= -1).all()
    counts = guard.close()
    assert counts.errors == 1 and counts.dropped_rows == 59 and counts.last_error == "ConnectionError: refused"
    assert "monitor.logging-failed" in [f.id for f in guard.report().findings]
    assert guard.report().metrics["monitor_dropped_rows"] == 59


def test_ensemble_disagreement_and_a_broken_model(parts, digits_setup):
    s = digits_setup
    torch.manual_seed(0)
    members = [s.clf] + [mg.wrap(nn.Linear(64, 10), input_shape=(64,)) for _ in range(2)]
    ens = mg.defend.Ensemble(members)
    out = mg.Guard(s.clf, ensemble=ens, max_disagreement=0.5).predict(s.x_pool[:50])
    refused = [r for r in out.reasons if r]
    assert refused and all(r[0].startswith("ensemble disagreement") for r in refused)

    class NaNNet(nn.Module):
        def forward(self, x):
            return torch.full((len(x), 3), float("nan"))

    bad = mg.Guard(mg.wrap(NaNNet(), input_shape=(4,), n_classes=3)).predict(np.zeros((3, 4), np.float32))
    assert bad.layer == ["model"] * 3 and bad.reasons[0][0].startswith("model failed")


def test_unseen_categories_in_a_table():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 500), "site": rng.integers(0, 3, 500)})
    prof = mg.drift.profile(frame, categorical=["site"])
    clf = mg.wrap(lambda a: np.full((len(a), 2), 0.5), input_shape=(2,))
    out = mg.Guard(clf, profile=prof).predict(pd.DataFrame({"age": [41.0, 39.0, 400.0], "site": [1, 7, 2]}))
    assert out.reasons[0] == [] and out.reasons[1] == ["feature 'site' = '7' never seen in training"]
    assert "outside the training range" in out.reasons[2][0]
    missing = mg.Guard(clf, profile=prof).predict(pd.DataFrame({"age": [41.0]}))
    assert missing.reasons[0][0] == "feature 'site' missing"


def test_bad_construction_is_one_clear_error(parts):
    s, prof, energy, _ = parts
    with pytest.raises(mg.InputError, match="not calibrated"):
        mg.Guard(s.clf, detectors=[D.Energy(s.clf)])
    other = mg.wrap(s.clf.module, input_shape=(64,))
    with pytest.raises(mg.InputError, match="another classifier"):
        mg.Guard(other, detectors=[energy])
    with pytest.raises(mg.InputError, match="fallback"):
        mg.Guard(s.clf, fallback="retry")
    with pytest.raises(mg.InputError, match="profile has 64 features"):
        mg.Guard(mg.wrap(nn.Linear(3, 2), input_shape=(3,)), profile=prof)
