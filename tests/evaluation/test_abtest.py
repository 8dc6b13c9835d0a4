"""Two-proportion z-test vs statsmodels, power and sample size, peeking/underpowered findings."""

from __future__ import annotations

import numpy as np
import pytest

from mathguard.errors import InputError
from mathguard.evaluation import ab_test, sample_size
from mathguard.evaluation.abtest import _power

import statsmodels.stats.proportion as prop


@pytest.mark.parametrize("sa,na,sb,nb", [(120, 1000, 150, 1000), (45, 500, 38, 700), (900, 10000, 1010, 10050)])
def test_z_test_matches_statsmodels(sa, na, sb, nb):
    res = ab_test(sa, na, sb, nb)
    z, p = prop.proportions_ztest([sb, sa], [nb, na])
    assert res.z == pytest.approx(z, rel=1e-10) and res.p_value == pytest.approx(p, rel=1e-10)
    lo, hi = prop.confint_proportions_2indep(sb, nb, sa, na, method="wald", compare="diff")
    assert res.ci == pytest.approx((lo, hi), rel=1e-10)


def test_power_and_sample_size_match_statsmodels():
    ref = prop.power_proportions_2indep(0.02, 0.10, 3000, ratio=1, alpha=0.05, return_results=False)
    assert _power(0.10, 0.12, 3000, 3000, 0.05) == pytest.approx(ref, abs=2e-3)
    n = sample_size(0.10, 0.02, power=0.8)
    assert _power(0.10, 0.12, n, n, 0.05) >= 0.8 > _power(0.10, 0.12, n - 30, n - 30, 0.05)
    ref_n = prop.samplesize_proportions_2indep_onetail(0.02, 0.10, power=0.8, alpha=0.05, alternative="two-sided")
    assert n == pytest.approx(ref_n, rel=0.01)


def test_underpowered_and_peeking_findings():
    res = ab_test(120, 1000, 150, 1000, min_effect=0.02, planned_n=5000)
    ids = [f.id for f in res.report().findings]
    assert "stats.ab-underpowered" in ids and "stats.ab-peeking" in ids
    assert res.required_n and res.required_n > 1000 and res.power < 0.8
    clean = ab_test(1000, 10000, 1250, 10000, min_effect=0.02)
    assert [f.id for f in clean.report().findings] == ["stats.ab-significant"]


def test_type_one_error_is_nominal_by_simulation():
    rng = np.random.default_rng(0)
    s = rng.binomial(2000, 0.1, size=(4000, 2))
    rejections = np.mean([ab_test(a, 2000, b, 2000).p_value < 0.05 for a, b in s])
    assert 0.04 <= rejections <= 0.06


def test_bad_input():
    with pytest.raises(InputError, match="successes_a"):
        ab_test(12, 10, 3, 10)
    with pytest.raises(InputError, match="n_b must be an integer at least 1"):
        ab_test(1, 10, 0, 0)
    with pytest.raises(InputError, match="min_effect"):
        sample_size(0.5, 0.0)


@pytest.mark.parametrize("args, kwargs", [
    ((1, float("inf"), 1, 10), {}), ((float("nan"), 10, 1, 10), {}), ((1.5, 10, 1, 10), {}),
    ((1, 10, 1, 10), {"alpha": float("nan")}), ((1, 10, 1, 10), {"min_effect": float("inf")}),
])
def test_non_finite_or_fractional_counts_are_input_errors(args, kwargs):
    with pytest.raises(InputError):
        ab_test(*args, **kwargs)
    assert ab_test(1.0, 10.0, 2, 10).n_a == 10  # an integral float is a count
