"""Statistics verdicts that used to mislead (issue #11): tiny samples, log-loss signs, Holm intervals, overflow."""

import numpy as np
import pytest

from mathguard.evaluation import compare, compare_many
from mathguard.evaluation.calibration import calibration, fit_temperature
from mathguard.evaluation.paired import MIN_EXAMPLES
from mathguard.errors import InputError

RNG = np.random.default_rng(0)


def test_one_row_is_insufficient_data_not_a_100_pp_gain():
    cmp = compare([1], [0], [1])
    assert cmp.insufficient and not cmp.significant
    assert cmp.verdict.startswith("insufficient data")
    (f,) = cmp.findings()
    assert f.id == "stats.insufficient-data" and cmp.report().gate("high") == 1
    assert not compare(RNG.integers(0, 2, MIN_EXAMPLES), np.zeros(MIN_EXAMPLES, int),
                       np.zeros(MIN_EXAMPLES, int)).insufficient


def test_log_loss_effect_and_ci_have_the_sign_quoted_in_the_verdict():
    y = RNG.integers(0, 3, 300)
    worse = RNG.dirichlet(np.ones(3), 300)
    better = np.eye(3)[y] * 0.8 + 0.2 / 3
    cmp = compare(y, worse, better, metric="log_loss", n_resamples=2000)
    assert cmp.effect < 0 and cmp.ci[1] < 0 and cmp.improvement > 0
    assert cmp.verdict.startswith("B is better than A")
    assert f"{cmp.effect:+.4f}" in cmp.verdict and f"{cmp.ci[0]:+.4f}" in cmp.verdict


def test_compare_many_intervals_are_at_the_holm_step_level():
    y = RNG.integers(0, 2, 600)
    base = np.where(RNG.random(600) < 0.7, y, 1 - y)
    cands = {f"m{i}": np.where(RNG.random(600) < 0.1 * i, y, base) for i in range(1, 4)}
    rep = compare_many(y, base, cands, n_resamples=1000)
    levels = sorted(s.findings[0].evidence["ci_level"] for s in rep.sections)
    np.testing.assert_allclose(levels, [0.95, 1 - 0.05 / 2, 1 - 0.05 / 3])
    for name, sec in zip(cands, rep.sections):
        single = compare(y, base, cands[name], n_resamples=1000)
        lo, hi = rep.metrics[name]["ci"]
        assert lo <= single.ci[0] + 1e-12 and hi >= single.ci[1] - 1e-12  # never narrower than unadjusted
        significant = rep.metrics[name]["p_holm"] < 0.05
        if significant:
            assert lo > 0 or hi < 0, (name, lo, hi)  # a Holm-significant gain has an interval excluding 0


@pytest.mark.parametrize("scale", [1e308, 1e307])
def test_temperature_on_overflowing_logits_is_refused(scale):
    y = RNG.integers(0, 3, 200)
    z = np.sign(RNG.normal(size=(200, 3))) * scale
    with pytest.raises(InputError, match="overflow"):
        fit_temperature(y, z)
    proba = np.eye(3)[z.argmax(axis=1)]
    with pytest.raises(InputError, match="overflow"):
        calibration(y, proba, logits=z)


def test_labels_beyond_the_probability_columns_are_refused():
    y = np.r_[RNG.integers(0, 3, 99), 5]
    with pytest.raises(InputError):
        calibration(y, RNG.dirichlet(np.ones(3), 100))
    with pytest.raises(InputError):
        compare(y, RNG.dirichlet(np.ones(3), 100), RNG.dirichlet(np.ones(3), 100), metric="log_loss")


@pytest.mark.parametrize("b, c", [(float("nan"), 3), (1.5, 2), (float("inf"), 1), (-1, 2)])
def test_mcnemar_counts_are_non_negative_integers(b, c):
    from mathguard.evaluation import mcnemar

    with pytest.raises(InputError):
        mcnemar(b, c)
