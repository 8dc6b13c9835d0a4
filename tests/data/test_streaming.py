"""Streaming equals in-memory: chunked arrays, sparse, CSV, Parquet, and data whose naive formula cancels."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer

from mathguard.data import audit_data
from mathguard.data.moments import Moments

KEYS = ("condition_number", "condition_number_standardized", "condition_number_centered",
        "explained_variance_ratio", "condition_indices")


def _same(a, b, rtol=1e-9):
    for k in KEYS:
        np.testing.assert_allclose(a.metrics[k], b.metrics[k], rtol=rtol, atol=1e-14, err_msg=k)
    assert a.metrics["rank"] == b.metrics["rank"]
    va, vb = a.metrics["vif"], b.metrics["vif"]
    assert list(va) == list(vb)
    np.testing.assert_allclose(list(va.values()), list(vb.values()), rtol=rtol)


@pytest.fixture(scope="module")
def cancer():
    d = load_breast_cancer()
    return d.data, list(d.feature_names)


def test_chunked_equals_in_memory(cancer):
    X, names = cancer
    whole = audit_data(X, feature_names=names, chunk_size=10_000, figures=False)
    for size in (1, 7, 64):
        _same(audit_data(X, feature_names=names, chunk_size=size, figures=False), whole)


def test_moments_match_two_pass_formula_with_large_mean():
    rng = np.random.default_rng(1)
    X = 1e9 + rng.normal(size=(5000, 4)) @ np.array([[1, .5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, .3, 1]])
    mom = Moments(4)
    for i in range(0, len(X), 333):
        mom.update(X[i:i + 333])
    centred = X - X.mean(0)
    ref = centred.T @ centred
    np.testing.assert_allclose(mom.m2, ref, rtol=1e-9)
    # the naive one-pass formula Σxxᵀ − n·m mᵀ has no correct digit left at this offset
    naive = X.T @ X - len(X) * np.outer(X.mean(0), X.mean(0))
    assert np.abs(naive - ref).max() > 1e3 * np.abs(ref).max() * 1e-9


def test_audit_of_shifted_data_equals_audit_of_centred_data(cancer):
    X, names = cancer
    shifted = X + 1e8
    a = audit_data(shifted, feature_names=names, chunk_size=50, figures=False).metrics
    b = audit_data(X, feature_names=names, figures=False).metrics
    np.testing.assert_allclose(list(a["vif"].values()), list(b["vif"].values()), rtol=1e-6)
    assert a["condition_number_standardized"] == pytest.approx(b["condition_number_standardized"], rel=1e-6)
    assert a["rank"] == b["rank"] == 30


def test_sparse_equals_dense():
    dense = sp.random(400, 12, density=0.2, random_state=3, format="csr").toarray()
    dense[:, 5] = dense[:, 1] + 2 * dense[:, 2]  # a sparse dependency too
    s = audit_data(sp.csr_matrix(dense), chunk_size=37, figures=False)
    d = audit_data(dense, figures=False)
    _same(s, d)
    assert s.metrics["dependencies"] == d.metrics["dependencies"] == ["x5 = 1.0·x1 + 2.0·x2"]
    info = next(f for f in s.findings if f.id == "linalg.sparse-input")
    assert info.evidence["density"] == pytest.approx(np.count_nonzero(dense) / dense.size)
    assert info.evidence["bytes_saved"] > 0


def test_csv_and_parquet_equal_the_dataframe(tmp_path, cancer):
    X, names = cancer
    df = pd.DataFrame(X, columns=names)
    df["label"] = load_breast_cancer().target
    df["id"] = [f"p{i}" for i in range(len(df))]
    csv, pq = tmp_path / "d.csv", tmp_path / "d.parquet"
    df.to_csv(csv, index=False)
    df.to_parquet(pq, row_group_size=100)
    ref = audit_data(df, y="label", figures=False)
    for path in (csv, pq):
        got = audit_data(path, y="label", chunk_size=64, figures=False)
        _same(got, ref, rtol=1e-9)
        assert got.metrics["n_rows"] == len(df)
        assert "label" not in got.metrics["vif"]
        np.testing.assert_allclose(list(got.metrics["target_correlation"].values()),
                                   [np.corrcoef(df[c], df["label"])[0, 1] for c in names], rtol=1e-9)
        assert any(f.id == "linalg.non-numeric-columns" and "id" in f.detail for f in got.findings)


def test_sparse_rows_with_nan_are_dropped_like_dense_rows():
    dense = sp.random(300, 6, density=0.3, random_state=7, format="csr").toarray()
    dense[[4, 10], [2, 5]] = [np.nan, np.inf]
    s = audit_data(sp.csr_matrix(dense), chunk_size=64, figures=False)
    d = audit_data(dense, figures=False)
    _same(s, d)
    assert s.metrics["n_rows_used"] == d.metrics["n_rows_used"] == 298
    nf = next(f for f in s.findings if f.id == "linalg.non-finite-values")
    assert nf.evidence["columns"] == {"x2": {"nan": 1, "inf": 0}, "x5": {"nan": 0, "inf": 1}}


def test_target_array_gives_correlations_and_is_not_a_feature(cancer):
    X, names = cancer
    y = load_breast_cancer().target
    m = audit_data(X, y=y, feature_names=names, figures=False).metrics
    assert len(m["vif"]) == 30
    ref = [np.corrcoef(X[:, j], y)[0, 1] for j in range(30)]
    np.testing.assert_allclose(list(m["target_correlation"].values()), ref, rtol=1e-10)


import hypothesis


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(n=hypothesis.strategies.integers(2, 60), p=hypothesis.strategies.integers(1, 5),
                  chunk=hypothesis.strategies.integers(1, 70), offset=hypothesis.strategies.sampled_from([0.0, 1e6, -3e8]),
                  seed=hypothesis.strategies.integers(0, 2**16))
def test_moments_equal_numpy_for_any_chunking(n, p, chunk, offset, seed):
    X = offset + np.random.default_rng(seed).normal(size=(n, p))
    mom = Moments(p)
    for i in range(0, n, chunk):
        mom.update(X[i:i + chunk])
    np.testing.assert_allclose(mom.mean, X.mean(0), rtol=1e-12, atol=1e-12)
    centred = X - X.mean(0)
    np.testing.assert_allclose(mom.m2, centred.T @ centred, rtol=1e-7, atol=1e-7 * n)
    assert mom.n == n


def test_one_chunk_of_many_blocks_with_nan_and_inf_rows_equals_numpy_on_complete_rows():
    from mathguard.data.moments import block_rows

    p = 3
    rows = block_rows(p)
    X = 5e6 + np.random.default_rng(7).normal(size=(4 * rows + 17, p))
    X[: rows + 5, 0] = np.nan  # the whole first block and a few rows of the next: the shift comes later
    X[2 * rows + 3, 1] = np.inf
    X[3 * rows + 1, 2] = -np.inf
    mom = Moments(p)
    mom.update(X)
    complete = X[np.isfinite(X).all(axis=1)]
    assert (mom.n_seen, mom.n) == (len(X), len(complete))
    assert mom.n_nan.tolist() == [rows + 5, 0, 0] and mom.n_inf.tolist() == [0, 1, 1]
    np.testing.assert_allclose(mom.mean, complete.mean(0), rtol=1e-12)
    centred = complete - complete.mean(0)
    np.testing.assert_allclose(mom.m2, centred.T @ centred, rtol=1e-10)
