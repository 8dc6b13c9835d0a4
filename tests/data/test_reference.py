"""The audit's numbers against numpy, statsmodels and scikit-learn on real data."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA

from mathguard.data import audit_data


@pytest.fixture(scope="module")
def cancer():
    d = load_breast_cancer()
    return d.data, list(d.feature_names)


@pytest.fixture(scope="module")
def cancer_report(cancer):
    X, names = cancer
    return audit_data(X, feature_names=names, figures=False)


def test_vif_matches_statsmodels_on_breast_cancer(cancer, cancer_report):
    import statsmodels.stats.outliers_influence as sm
    from statsmodels.tools import add_constant

    X, names = cancer
    exog = add_constant(X)
    ref = np.array([sm.variance_inflation_factor(exog, i + 1) for i in range(X.shape[1])])
    got = np.array([cancer_report.metrics["vif"][n] for n in names])
    np.testing.assert_allclose(got, ref, rtol=1e-8)
    assert got.max() > 1000  # radius / perimeter / area really are collinear


def test_rank_and_condition_number_match_numpy(cancer, cancer_report):
    X, _ = cancer
    m = cancer_report.metrics
    assert m["rank_raw"] == np.linalg.matrix_rank(X)
    assert m["rank"] == np.linalg.matrix_rank(X - X.mean(0))
    assert m["condition_number"] == pytest.approx(np.linalg.cond(X), rel=1e-9)
    Z = (X - X.mean(0)) / X.std(0)
    assert m["condition_number_standardized"] == pytest.approx(np.linalg.cond(Z), rel=1e-9)
    assert m["condition_number_centered"] == pytest.approx(np.linalg.cond(X - X.mean(0)), rel=1e-9)


def test_explained_variance_matches_sklearn_pca(cancer, cancer_report):
    X, _ = cancer
    pca = PCA().fit(X)
    np.testing.assert_allclose(cancer_report.metrics["explained_variance_ratio"], pca.explained_variance_ratio_,
                               rtol=1e-8, atol=1e-15)
    cum = np.cumsum(pca.explained_variance_ratio_)
    for lvl in (90, 95, 99):
        assert cancer_report.metrics[f"components_{lvl}"] == int(np.argmax(cum >= lvl / 100) + 1)


def test_digits_rank_deficiency_matches_numpy():
    X = load_digits().data
    m = audit_data(X, figures=False).metrics
    Xc = X - X.mean(0)
    assert m["rank"] == np.linalg.matrix_rank(Xc)
    assert m["rank_raw"] == np.linalg.matrix_rank(X)
    np.testing.assert_allclose(m["explained_variance_ratio"], PCA().fit(X).explained_variance_ratio_[: len(
        m["explained_variance_ratio"])], rtol=1e-7, atol=1e-12)
    assert len(m["constant_columns"]) == int((X.std(0) == 0).sum())


def test_belsley_indices_and_proportions_match_direct_svd(cancer, cancer_report):
    X, _ = cancer
    Z = np.column_stack([np.ones(len(X)), X])
    Zs = Z / np.linalg.norm(Z, axis=0)
    _, s, vt = np.linalg.svd(Zs, full_matrices=False)
    np.testing.assert_allclose(cancer_report.metrics["condition_indices"], s[0] / s, rtol=1e-7)
    s_raw = np.linalg.svd(Z, compute_uv=False)
    np.testing.assert_allclose(cancer_report.metrics["condition_indices_raw"], s_raw[0] / s_raw, rtol=1e-7)
    # variance-decomposition proportions: the most collinear direction is the radius/perimeter/area family
    phi = (vt.T ** 2) / s**2
    props = (phi / phi.sum(axis=1, keepdims=True)).T
    members = {["const", *load_breast_cancer().feature_names][j] for j in np.flatnonzero(props[-1] >= 0.5)}
    assert members == set(cancer_report.metrics["collinear_groups"][0])


def test_tsqr_resolves_conditioning_that_the_gram_matrix_cannot():
    rng = np.random.default_rng(5)
    A = rng.normal(size=(3000, 3))
    near = A[:, 0] + A[:, 1] + 1e-9 * rng.normal(size=3000)  # κ ≈ 1e9: κ² is beyond 1/eps
    X = np.column_stack([A, near])
    m = audit_data(X, chunk_size=500, figures=False).metrics
    Z = (X - X.mean(0)) / X.std(0)
    assert m["confirmed_by_qr"]
    assert m["rank"] == np.linalg.matrix_rank(Z) == 4
    assert m["condition_number_standardized"] == pytest.approx(np.linalg.cond(Z), rel=1e-4)
    # the eigenvalues of ZᵀZ alone cannot tell this matrix from a singular one
    lam = np.linalg.eigvalsh(Z.T @ Z)
    assert lam[0] / lam[-1] < 1e-15
