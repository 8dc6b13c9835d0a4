"""KS, Wasserstein-1 and chi-square against scipy on exact data."""

import numpy as np
import pytest
from scipy import stats

from mathguard.drift import chi_square, ks_test, wasserstein


@pytest.mark.parametrize("seed", range(5))
def test_ks_matches_scipy_asymptotic(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=300 + seed * 50), rng.normal(0.1 * seed, 1.0, size=400)
    ours, ref = ks_test(a, b), stats.ks_2samp(a, b, method="asymp")
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-15)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_ks_with_ties_and_counts_equals_expanded_sample():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 6, 500).astype(float), rng.integers(1, 7, 600).astype(float)
    va, ca = np.unique(a, return_counts=True)
    vb, cb = np.unique(b, return_counts=True)
    weighted, raw = ks_test(va, vb, ca, cb), stats.ks_2samp(a, b, method="asymp")
    assert weighted.statistic == pytest.approx(raw.statistic, abs=1e-15)
    assert weighted.p_value == pytest.approx(raw.pvalue, rel=1e-12)


def test_wasserstein_matches_scipy_plain_and_weighted():
    rng = np.random.default_rng(2)
    a, b = rng.exponential(size=700), rng.normal(1.0, 2.0, size=300)
    assert wasserstein(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)
    wa, wb = rng.integers(1, 9, 700), rng.integers(1, 9, 300)
    assert wasserstein(a, b, wa, wb) == pytest.approx(stats.wasserstein_distance(a, b, wa, wb), rel=1e-12)


def test_wasserstein_of_a_shift_is_the_shift():
    x = np.linspace(-3, 3, 1001)
    assert wasserstein(x, x + 0.25) == pytest.approx(0.25, rel=1e-12)


def test_chi_square_matches_scipy_and_ignores_empty_categories():
    ref, cur = np.array([50, 30, 0, 20]), np.array([30, 45, 0, 25])
    ours = chi_square(ref, cur)
    expected = stats.chi2_contingency(np.array([[50, 30, 20], [30, 45, 25]]), correction=False)
    assert ours.statistic == pytest.approx(expected.statistic)
    assert ours.p_value == pytest.approx(expected.pvalue)
    assert chi_square(np.array([10, 0]), np.array([7, 0])).p_value == 1.0
