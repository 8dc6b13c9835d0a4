"""compare(): no false alarms on identical distributions, and the planted drifts are found."""

import numpy as np
import pytest
from scipy import stats

import mathguard as mg
from mathguard.drift import Thresholds
from mathguard.errors import InputError
from mathguard.info import psi


def _ids(report) -> list[str]:
    return [f.id for f in report.findings]


def test_identical_distributions_raise_no_finding_across_100_seeds(frame):
    alarms = 0
    for seed in range(100):
        ref = mg.drift.profile(frame(2000, 2 * seed))
        report = mg.drift.compare(ref, frame(2000, 2 * seed + 1), multivariate=False)
        alarms += bool(report.findings)
        assert report.metrics["verdict"] == "no drift" or report.findings
    assert alarms / 100 == 0.0  # observed false-alarm rate at the default thresholds


def test_domain_classifier_stays_quiet_on_identical_distributions(frame):
    aucs = []
    for seed in range(10):
        report = mg.drift.compare(frame(3000, 100 + seed), frame(3000, 200 + seed))
        assert "info.multivariate-drift" not in _ids(report)
        aucs.append(report.metrics["domain_auc"])
    assert abs(np.mean(aucs) - 0.5) < 0.03


@pytest.mark.parametrize("seed", range(5))
def test_a_fifth_of_a_standard_deviation_shift_is_found(frame, seed):
    report = mg.drift.compare(mg.drift.profile(frame(3000, seed)), frame(3000, 50 + seed, shift=0.2),
                              multivariate=False)
    assert report.metrics["drifted_features"] == ["f0"]
    f0 = report.metrics["features"]["f0"]
    assert 0.12 < f0["effect"] < 0.3 and f0["p_adjusted"] < 0.05
    assert report.metrics["verdict"] != "no drift"


def test_a_category_swap_is_major_drift(frame):
    ref, cur = frame(3000, 0), frame(3000, 1, swap=True)
    report = mg.drift.compare(ref, cur)
    (finding,) = [f for f in report.findings if f.id == "info.feature-drift"]
    assert finding.evidence["test"] == "chi-square" and finding.severity == mg.Severity.HIGH
    assert finding.title.startswith("feature colour drifted (PSI 0.")
    assert report.metrics["verdict"] == "major drift" and report.gate("high") == 1
    # PSI by hand over the three colours (population shares 0.6/0.3/0.1 → 0.3/0.6/0.1: PSI 0.3·ln 4 ≈ 0.42)
    colours = ["red", "green", "blue"]
    hand = psi(ref.colour.value_counts()[colours], cur.colour.value_counts()[colours])
    assert report.metrics["features"]["colour"]["psi"] == pytest.approx(hand, rel=1e-12)
    assert hand == pytest.approx(0.3 * np.log(4), abs=0.06)


def test_sketch_statistics_agree_with_scipy_on_the_raw_data(frame):
    ref, cur = frame(20000, 3), frame(20000, 4, shift=0.5)
    f0 = mg.drift.compare(ref, cur, multivariate=False).metrics["features"]["f0"]
    assert f0["wasserstein"] == pytest.approx(stats.wasserstein_distance(ref.f0, cur.f0), rel=0.01)
    assert f0["statistic"] == pytest.approx(stats.ks_2samp(ref.f0, cur.f0).statistic, abs=0.005)
    edges = np.quantile(ref.f0, np.linspace(0, 1, 11)[1:-1])
    hand = psi(np.bincount(np.searchsorted(edges, ref.f0), minlength=10),
               np.bincount(np.searchsorted(edges, cur.f0), minlength=10))
    assert f0["psi"] == pytest.approx(hand, rel=0.02)


def test_missing_column_missing_rate_and_extra_column(frame):
    ref = frame(3000, 0)
    cur = frame(3000, 1, missing=0.2).drop(columns=["f3"]).assign(new=1.0)
    report = mg.drift.compare(ref, cur, multivariate=False)
    assert {"info.missing-column", "info.missing-rate"} <= set(_ids(report))
    assert report.metrics["missing_columns"] == ["f3"] and report.metrics["extra_columns"] == ["new"]
    rate = next(f for f in report.findings if f.id == "info.missing-rate")
    assert rate.evidence["feature"] == "f1" and rate.evidence["current_rate"] == pytest.approx(0.2, abs=0.03)


def test_a_column_changing_kind_is_an_error(frame):
    cur = frame(500, 1).assign(f2="x")
    with pytest.raises(InputError, match="f2"):
        mg.drift.compare(frame(500, 0), cur, categorical=[])


def test_thresholds_are_overridable(frame):
    ref, cur = mg.drift.profile(frame(3000, 0)), frame(3000, 1, shift=0.2)
    default = mg.drift.compare(ref, cur, multivariate=False)
    strict = mg.drift.compare(ref, cur, multivariate=False, thresholds=Thresholds(psi_moderate=0.005, psi_major=0.01))
    assert max(f.severity for f in default.findings) == mg.Severity.LOW
    assert max(f.severity for f in strict.findings) == mg.Severity.HIGH
    with pytest.raises(InputError):
        Thresholds(alpha=2)


def test_prediction_and_entropy_drift_on_digits():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    X = X / 16
    model = LogisticRegression(max_iter=2000).fit(X[:900], y[:900])
    ref, same = X[900:1350], X[1350:]
    noisy = np.clip(same + np.random.default_rng(0).normal(0, 0.45, same.shape), 0, 1)
    prof = mg.drift.profile(ref, model.predict_proba(ref))
    quiet = mg.drift.compare(prof, same, model.predict_proba(same), multivariate=False)
    assert not {"info.prediction-drift", "info.entropy-shift"} & set(_ids(quiet))
    loud = mg.drift.compare(prof, noisy, model.predict_proba(noisy), multivariate=False)
    shift = next(f for f in loud.findings if f.id == "info.entropy-shift")
    assert shift.evidence["mean_current"] > 1.5 * shift.evidence["mean_reference"]
    assert "prediction entropy" in shift.title
    no_proba = mg.drift.compare(prof, same, multivariate=False)
    assert "info.prediction-drift-unchecked" in _ids(no_proba)


def test_an_informational_note_alone_is_no_drift(frame):
    df = frame(2000, 0)
    prof = mg.drift.profile(df, np.random.default_rng(0).dirichlet([1, 1], size=len(df)))
    report = mg.drift.compare(prof, frame(2000, 1), multivariate=False)
    assert _ids(report) == ["info.prediction-drift-unchecked"]
    assert report.metrics["verdict"] == "no drift" and report.gate("low") == 0


def test_report_renders_and_serialises(frame):
    report = mg.drift.compare(frame(2000, 0), frame(2000, 1, shift=0.6, swap=True))
    assert report.metrics["verdict"] == "major drift"
    assert len(report.figures) == 2
    assert '"verdict": "major drift"' in report.to_json()
    assert "Drift per feature" in report.to_html()


def test_infinities_count_as_unusable_and_an_empty_sample_skips_the_classifier(frame):
    ref = mg.drift.profile(frame(2000, 0), sample_size=0)
    cur = frame(2000, 1)
    cur.loc[:199, "f4"] = np.inf
    report = mg.drift.compare(ref, cur)
    rate = next(f for f in report.findings if f.id == "info.missing-rate")
    assert rate.title.startswith("missing or infinite values in f4") and report.metrics["domain_auc"] is None


def test_unnamed_probability_columns_are_pointed_out(frame):
    """#24: current data carrying p0,p1 without --proba used to be compared as if they were not there."""
    df = frame(2000, 0)
    proba = np.random.default_rng(0).dirichlet([1, 1], size=len(df))
    prof = mg.drift.profile(df, proba)
    cur = frame(2000, 1).assign(p0=proba[:, 0], p1=proba[:, 1])
    found = next(f for f in mg.drift.compare(prof, cur, multivariate=False).findings
                 if f.id == "info.prediction-drift-unchecked")
    assert found.severity == mg.Severity.MEDIUM and "p0, p1" in found.title
    named = mg.drift.compare(prof, cur, proba=["p0", "p1"], multivariate=False)
    assert "info.prediction-drift-unchecked" not in _ids(named)
