"""Planted defects are each found and named; healthy data raise nothing at warning level."""

import numpy as np
import pandas as pd
import pytest

from mathguard.data import audit_data
from mathguard.report import Severity


def _base(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "e", "f"]), rng


def _ids(report):
    return {f.id for f in report.findings}


def _find(report, id_):
    return next(f for f in report.findings if f.id == id_)


def test_derived_column_is_named_with_its_coefficients():
    df, _ = _base()
    df["c"] = 2.0 * df["a"] - 0.5 * df["b"] + 3.0
    r = audit_data(df, figures=False)
    f = _find(r, "linalg.exact-dependence")
    assert f.severity >= Severity.HIGH
    assert r.metrics["dependencies"] == ["c = 2.0·a − 0.5·b + 3.0"]
    assert r.metrics["rank"] == 4
    assert all(np.isinf(r.metrics["vif"][k]) for k in "abc")
    assert np.isfinite(r.metrics["vif"]["e"]) and np.isfinite(r.metrics["vif"]["f"])


def test_duplicate_column_is_named():
    df, _ = _base()
    df["a_copy"] = df["a"]
    r = audit_data(df, figures=False)
    assert _find(r, "linalg.duplicate-columns").evidence["pairs"] == ["a_copy = a"]
    assert "linalg.exact-dependence" not in _ids(r)  # reported once, as the duplicate
    assert np.isinf(r.metrics["vif"]["a_copy"])


def test_one_hot_trap_is_recognised():
    df, rng = _base()
    dummies = pd.get_dummies(rng.choice(["red", "green", "blue"], len(df)), prefix="colour").astype(float)
    r = audit_data(pd.concat([df, dummies], axis=1), figures=False)
    f = _find(r, "linalg.dummy-variable-trap")
    assert set(dummies.columns) <= set(f.detail.replace("'", " ").replace(",", " ").split())
    assert "drop_first" in f.fix
    # with drop_first there is no trap and nothing exact
    fixed = audit_data(pd.concat([df, dummies.iloc[:, 1:]], axis=1), figures=False)
    assert not {"linalg.dummy-variable-trap", "linalg.exact-dependence"} & _ids(fixed)


def test_column_scaled_by_1e6_is_a_scale_problem_not_collinearity():
    df, _ = _base()
    df["big"] = df["e"].to_numpy()[::-1] * 1e6
    r = audit_data(df, figures=False)
    f = _find(r, "linalg.feature-scale")
    assert f.evidence["columns"] == ["big"]
    assert r.metrics["condition_number"] > 1e5
    assert r.metrics["condition_number_standardized"] < 2
    assert "linalg.collinearity" not in _ids(r)
    assert "StandardScaler" in f.fix
    # the raw κ was recomputed from the QR factor and agrees with numpy's SVD
    assert r.metrics["confirmed_by_qr"]
    assert r.metrics["condition_number"] == pytest.approx(np.linalg.cond(df.to_numpy()), rel=1e-8)


def test_more_columns_than_rows():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 30))
    r = audit_data(X, figures=False)
    assert _find(r, "linalg.more-columns-than-rows").severity >= Severity.HIGH
    assert r.metrics["rank"] == np.linalg.matrix_rank(X - X.mean(0)) == 19
    assert len(r.metrics["dependencies"]) == 30 - 19


def test_constant_column_nan_and_non_numeric_are_named():
    df, _ = _base()
    df["k"] = 7.0
    df.loc[3, "e"] = np.nan
    df.loc[5, "f"] = np.inf
    df["city"] = "Paris"
    r = audit_data(df, figures=False)
    assert _find(r, "linalg.constant-columns").evidence["columns"] == ["k"]
    nf = _find(r, "linalg.non-finite-values")
    assert nf.evidence["columns"] == {"e": {"nan": 1, "inf": 0}, "f": {"nan": 0, "inf": 1}}
    assert r.metrics["n_rows_used"] == len(df) - 2
    assert _find(r, "linalg.non-numeric-columns").evidence["columns"] == ["city"]


def test_near_collinear_group_is_found_by_belsley_and_vif():
    df, rng = _base(2000)
    df["g"] = df["a"] + df["b"] + rng.normal(scale=0.01, size=len(df))
    r = audit_data(df, figures=False)
    assert _find(r, "linalg.collinearity").severity == Severity.MEDIUM  # κ ≈ 245: moderate-strong
    assert set(r.metrics["collinear_groups"][0]) == {"a", "b", "g"}
    assert _find(r, "linalg.high-vif").severity == Severity.HIGH
    assert r.metrics["vif"]["g"] > 1e3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_healthy_standardised_gaussian_has_no_warning(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 15))
    X = (X - X.mean(0)) / X.std(0)
    r = audit_data(X)
    assert r.at_or_above("medium") == []
    assert r.metrics["rank"] == 15
    assert max(r.metrics["vif"].values()) < 1.1
    assert len(r.figures) == 2


def test_many_more_columns_than_rows_reports_count_not_equations():
    X = np.random.default_rng(4).normal(size=(40, 300))
    r = audit_data(X, figures=False)
    f = _find(r, "linalg.exact-dependence")
    assert f.title.startswith("261 exact linear dependencies")
    assert r.metrics["rank"] == 39
    assert all(np.isinf(v) for v in r.metrics["vif"].values())


def test_large_offset_is_low_severity_not_collinearity():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(1000, 5))
    X[:, 2] += 1e4  # e.g. a calendar year: large mean, small spread
    r = audit_data(X, figures=False)
    assert _find(r, "linalg.offset-columns").evidence["columns"] == ["x2"]
    assert r.at_or_above("medium") == []
    assert r.metrics["condition_indices"][-1] > 1e3  # Belsley's uncentred index sees it
