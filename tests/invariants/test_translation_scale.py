"""Translation and scale invariance: adding a constant to a column or rescaling it (1e-6…1e9) changes
no drift verdict or statistic, no standardised figure of the data audit and no relevance score.

Before issue #22 the drift sketch's buckets were a fixed fraction (2^-12) of a value's magnitude,
so a column around 1e6 with sd 1 shifted by 3 sd gave PSI 0.000, KS 0.000 and "no drift".
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.datasets import load_diabetes

import mathguard as mg

OFFSETS = st.sampled_from([0.0, 1e3, -1e5, 1e6, 1e9])
SCALES = st.sampled_from([1.0, 1e-6, 1e-3, 7.5, 1e3, 1e6])


def _drift(ref: np.ndarray, cur: np.ndarray) -> dict:
    rep = mg.drift.compare(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}), multivariate=False)
    return {"verdict": rep.metrics["verdict"], **rep.metrics["features"]["x"]}


@given(OFFSETS, SCALES, st.sampled_from([0.0, 0.1, 3.0]), st.integers(0, 1000))
@settings(max_examples=30, deadline=None)
def test_drift_is_invariant_to_offset_and_scale(offset, scale, shift, seed):
    assume(offset == 0 or scale / abs(offset) >= 1e-6)  # else float64 itself rounds the spread away
    rng = np.random.default_rng(seed)
    ref, cur = rng.normal(0, 1, 3000), rng.normal(shift, 1, 3000)
    base = _drift(ref, cur)
    moved = _drift(offset + scale * ref, offset + scale * cur)
    assert moved["verdict"] == base["verdict"]
    assert moved["statistic"] == pytest.approx(base["statistic"], abs=0.01)
    assert moved["psi"] == pytest.approx(base["psi"], abs=0.02, rel=0.02)
    assert moved["effect"] == pytest.approx(base["effect"], abs=0.01, rel=0.02)
    exact = stats.ks_2samp(offset + scale * ref, offset + scale * cur).statistic
    assert moved["statistic"] == pytest.approx(exact, abs=0.01)


def test_a_shift_of_three_sd_around_a_million_is_drift():
    rng = np.random.default_rng(0)
    got = _drift(rng.normal(1e6, 1, 100_000), rng.normal(1e6 + 3, 1, 100_000))
    assert got["verdict"] != "no drift"
    assert got["statistic"] == pytest.approx(0.8676, abs=0.01)  # scipy's two-sample KS on the same data
    assert got["psi"] > 1


@pytest.fixture(scope="module")
def diabetes() -> np.ndarray:
    return load_diabetes().data


@given(st.integers(0, 9), OFFSETS, SCALES)
@settings(max_examples=15, deadline=None)
def test_standardised_audit_figures_are_invariant(diabetes, column, offset, scale):
    # Only where float64 itself keeps the column: spread over magnitude above 1e-6 (else the input is rounded away).
    assume(offset == 0 or diabetes[:, column].std() * scale / abs(offset) >= 1e-6)
    base = mg.audit_data(diabetes).metrics
    X = diabetes.copy()
    X[:, column] = offset + scale * X[:, column]
    moved = mg.audit_data(X).metrics
    assert moved["condition_number_standardized"] == pytest.approx(base["condition_number_standardized"], rel=1e-3)
    assert moved["vif"].keys() == base["vif"].keys()
    np.testing.assert_allclose(list(moved["vif"].values()), list(base["vif"].values()), rtol=1e-3)
    assert moved["rank"] == base["rank"]


@given(st.integers(0, 9), OFFSETS, SCALES)
@settings(max_examples=15, deadline=None)
def test_binned_relevance_is_invariant(diabetes, column, offset, scale):
    assume(offset == 0 or diabetes[:, column].std() * scale / abs(offset) >= 1e-6)
    y = load_diabetes().target > 140
    base = mg.info.feature_relevance(diabetes, y, method="binned")
    X = diabetes.copy()
    X[:, column] = offset + scale * X[:, column]
    moved = mg.info.feature_relevance(X, y, method="binned")
    pd.testing.assert_series_equal(moved.scores.sort_index(), base.scores.sort_index(), atol=1e-9, rtol=0)
