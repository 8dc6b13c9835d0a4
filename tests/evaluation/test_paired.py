"""McNemar vs statsmodels, Holm vs statsmodels, verdicts and findings, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mathguard.errors import InputError
from mathguard.evaluation import compare, compare_many, holm, mcnemar

import statsmodels.stats.contingency_tables as sm_contingency
import statsmodels.stats.multitest as sm_multi


def _table(y, a, b):
    ra, rb = a == y, b == y
    return np.array([[np.sum(ra & rb), np.sum(ra & ~rb)], [np.sum(~ra & rb), np.sum(~ra & ~rb)]])


def test_mcnemar_matches_statsmodels_on_real_predictions(cancer_preds):
    y, a, b = cancer_preds["y"], cancer_preds["pred_a"], cancer_preds["pred_b"]
    t = _table(y, a, b)
    assert t[0, 1] + t[1, 0] > 0
    ours_exact = mcnemar(int(t[0, 1]), int(t[1, 0]), test="exact")
    ref_exact = sm_contingency.mcnemar(t, exact=True)
    assert ours_exact.p_value == pytest.approx(ref_exact.pvalue, rel=1e-10)
    ours_chi = mcnemar(int(t[0, 1]), int(t[1, 0]), test="chi2")
    ref_chi = sm_contingency.mcnemar(t, exact=False, correction=True)
    assert ours_chi.statistic == pytest.approx(ref_chi.statistic, rel=1e-10)
    assert ours_chi.p_value == pytest.approx(ref_chi.pvalue, rel=1e-10)
    cmp = compare(y, a, b, n_resamples=500)
    assert cmp.p_value == pytest.approx(ref_exact.pvalue, rel=1e-10)
    assert cmp.evidence["cohens_g"] == pytest.approx(t[1, 0] / (t[0, 1] + t[1, 0]) - 0.5)
    assert cmp.effect == pytest.approx((t[1, 0] - t[0, 1]) / y.size)  # accuracy gain = (c - b) / n


@pytest.mark.parametrize("b,c", [(0, 7), (3, 11), (20, 31), (44, 45), (120, 80)])
def test_mcnemar_grid_matches_statsmodels(b, c):
    t = np.array([[50, b], [c, 50]])
    assert mcnemar(b, c).p_value == pytest.approx(sm_contingency.mcnemar(t, exact=True).pvalue, rel=1e-10)
    assert mcnemar(b, c, test="chi2").p_value == pytest.approx(
        sm_contingency.mcnemar(t, exact=False, correction=True).pvalue, rel=1e-10)


def test_continuity_correction_never_overshoots_zero():
    # statsmodels computes (|b-c|-1)^2/(b+c) = 1/90 for b = c = 45; the correction must stop at 0 (p = 1)
    assert mcnemar(45, 45, test="chi2").statistic == 0.0 and mcnemar(45, 45, test="chi2").p_value == 1.0


def test_mid_p_is_exact_minus_point_probability():
    # b=2, c=9, n=11: exact two-sided = 2*P(X<=2) = 2*(1+11+55)/2048; mid-p subtracts P(X=2) = 55/2048
    assert mcnemar(2, 9).p_value == pytest.approx(2 * 67 / 2048)
    assert mcnemar(2, 9, test="mid-p").p_value == pytest.approx(2 * 67 / 2048 - 55 / 2048)
    assert mcnemar(2, 9, test="auto").test == "exact" and mcnemar(30, 9, test="auto").test == "chi2"


def test_holm_matches_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.049])
    ref = sm_multi.multipletests(p, method="holm")[1]
    np.testing.assert_allclose(holm(p), ref, rtol=1e-12)


def test_verdicts_and_findings():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 4000)
    a = np.where(rng.random(4000) < 0.80, y, 1 - y)
    b_big = np.where(rng.random(4000) < 0.60, y, a)  # B fixes ~60 % of A's errors: clear gain
    b_same = np.where(rng.random(4000) < 0.5, a, np.where(rng.random(4000) < 0.8, y, 1 - y))
    big = compare(y, a, b_big, n_resamples=2000)
    assert big.significant and big.improvement > 0.05 and big.ci[0] > 0
    assert big.findings()[0].id == "stats.significant-improvement"
    assert big.verdict.startswith("B is better than A by")
    below = compare(y, a, b_big, min_effect=0.5, n_resamples=2000)
    assert below.findings()[0].id == "stats.below-practical-threshold"
    worse = compare(y, b_big, a, n_resamples=2000)
    assert worse.findings()[0].id == "stats.significantly-worse"
    same = compare(y, a, b_same, n_resamples=2000)
    assert not same.significant and same.findings()[0].id == "stats.improvement-not-significant"
    assert same.ci[0] < 0 < same.ci[1]


def test_compare_many_applies_holm(cancer_preds):
    y, a = cancer_preds["y"], cancer_preds["pred_a"]
    cands = {"lr": cancer_preds["pred_b"], "copy": a.copy(), "flip5": np.where(np.arange(y.size) < 5, 1 - a, a)}
    rep = compare_many(y, a, cands, n_resamples=500)
    raw = [s.findings[0].evidence["p_unadjusted"] for s in rep.sections]
    adj = [s.metrics["p_value"] for s in rep.sections]
    np.testing.assert_allclose(adj, holm(raw))
    assert len(rep.sections) == 3


def test_bad_input_is_one_line_error():
    y = np.array([0, 1, 1, 0])
    with pytest.raises(InputError, match="length mismatch"):
        compare(y, np.array([0, 1, 1]), np.array([0, 1, 1, 0]))
    with pytest.raises(InputError, match="unknown metric"):
        compare(y, y, y, metric="precision@k")
    with pytest.raises(InputError, match="^test must be one of"):
        compare(y, y, y, test="fisher")
    with pytest.raises(InputError, match="integer class labels"):
        compare(np.array([0.5, 1, 1, 0]), y, y)
    with pytest.raises(InputError, match="min_effect"):
        compare(y, y, y, min_effect=-1)


def test_holm_properties():
    import hypothesis as hyp
    import hypothesis.strategies as st

    @hyp.given(st.lists(st.floats(0, 1), min_size=1, max_size=20))
    @hyp.settings(max_examples=100, deadline=None)
    def check(ps):
        p = np.array(ps)
        adj = holm(p)
        assert np.all(adj >= p - 1e-15) and np.all(adj <= 1)
        assert np.all(adj <= np.minimum(1, p * p.size) + 1e-15)  # never stricter than Bonferroni
        order = np.argsort(p, kind="stable")
        assert np.all(np.diff(adj[order]) >= -1e-15)  # order of p-values is preserved

    check()
