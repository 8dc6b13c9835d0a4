"""Sparse input is shifted before its cross-products are accumulated, like dense input (issue #11)."""

import numpy as np
import pytest
import scipy.sparse as sp

from mathguard.data.analysis import analyse
from mathguard.data.moments import Moments
from mathguard.data.source import open_source


def _offset_matrix(n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    big = 1e9 + rng.normal(size=n)
    sparse_col = np.where(rng.random(n) < 0.1, rng.normal(size=n), 0.0)
    related = 0.99 * (big - 1e9) + 0.05 * rng.normal(size=n)
    return np.column_stack([big, sparse_col, related, rng.normal(size=n)])


@pytest.mark.parametrize("chunk_size", [None, 97])
def test_sparse_variance_and_vif_match_dense_at_a_large_offset(chunk_size):
    X = _offset_matrix()
    dense = analyse(open_source(X, chunk_size=chunk_size))
    sparse = analyse(open_source(sp.csr_matrix(X), chunk_size=chunk_size))
    np.testing.assert_allclose(sparse.sd, X.std(axis=0, ddof=1), rtol=1e-6)
    np.testing.assert_allclose(sparse.vif, dense.vif, rtol=1e-4)
    assert 300 < dense.vif[0] < 500


def test_sparse_moments_equal_dense_moments_with_explicit_zeros_and_duplicates():
    rng = np.random.default_rng(1)
    X = np.where(rng.random((300, 5)) < 0.3, rng.normal(5, 2, (300, 5)), 0.0)
    coo = sp.coo_matrix(X)
    # split every stored value in two duplicates and store one explicit zero
    rows = np.concatenate([coo.row, coo.row, [0]])
    cols = np.concatenate([coo.col, coo.col, [0]])
    vals = np.concatenate([coo.data / 2, coo.data / 2, [0.0]])
    odd = sp.csr_matrix((vals, (rows, cols)), shape=X.shape)
    odd.has_canonical_format = False
    a, b = Moments(5), Moments(5)
    for i in range(0, 300, 64):
        a.update(X[i:i + 64])
        b.update(odd[i:i + 64])
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-12)
    np.testing.assert_allclose(b.m2, a.m2, rtol=1e-9, atol=1e-9)
