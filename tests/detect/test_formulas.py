"""Scores equal their published definitions: closed forms, numpy, scikit-learn and mathguard.info."""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp, softmax
from sklearn.covariance import LedoitWolf
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from sklearn.mixture import GaussianMixture as SkGMM
from torch import nn

import mathguard as mg
from mathguard.detect import scores

D = mg.detect


@pytest.fixture(scope="module")
def linear():
    """A linear model: logits are x Wᵀ + b exactly, so every logit formula has a closed form."""
    torch.manual_seed(1)
    net = nn.Linear(5, 4).double()
    clf = mg.wrap(net.float(), input_shape=(5,), bounds=(-10.0, 10.0))
    x = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)
    W, b = net.weight.detach().numpy().astype(np.float64), net.bias.detach().numpy().astype(np.float64)
    return clf, x, x.astype(np.float64) @ W.T + b, W


@pytest.mark.parametrize("t", [1.0, 2.5])
def test_logit_scores_match_closed_forms(linear, t):
    clf, x, z, _ = linear
    np.testing.assert_allclose(D.Energy(clf, temperature=t).score(x), -t * logsumexp(z / t, axis=1), rtol=1e-5)
    np.testing.assert_allclose(D.MaxSoftmax(clf, temperature=t).score(x), -softmax(z / t, axis=1).max(1),
                               rtol=1e-5)
    np.testing.assert_allclose(D.Entropy(clf, temperature=t).score(x),
                               mg.info.entropy(softmax(z / t, axis=1), base=2), rtol=1e-5, atol=1e-6)


def test_fitted_temperature_is_the_calibration_lens_one(digits_setup):
    s = digits_setup
    det = D.Entropy(s.clf, temperature="fit").fit(s.x_pool, s.y_pool)
    logits = s.clf.logits(torch.tensor(s.x_pool)).detach().double().numpy()
    assert det.fitted_temperature == pytest.approx(
        mg.evaluation.fit_temperature(s.y_pool, logits).temperature, rel=1e-9)
    with pytest.raises(mg.InputError, match="needs labels"):
        D.MaxSoftmax(s.clf, temperature="fit").fit(s.x_pool)


def test_odin_step_is_its_gradient_formula(linear):
    clf, x, z, W = linear
    t, e = 1000.0, 0.01
    det = D.ODIN(clf, temperature=t, epsilon=e)
    # ∇ₓ log softmax(z/T)_ŷ = (W_ŷ − Σ_j p_j W_j) / T for a linear model.
    p = softmax(z / t, axis=1)
    grad = (W[z.argmax(1)] - p @ W) / t
    step = det.perturb(torch.tensor(x)).numpy()
    np.testing.assert_allclose(step, e * np.sign(grad), atol=1e-7)
    shifted = x + e * np.sign(grad)
    z2 = shifted.astype(np.float64) @ W.T + (z - x.astype(np.float64) @ W.T)[0]
    np.testing.assert_allclose(det.score(x), -softmax(z2 / t, axis=1).max(1), rtol=1e-5)


def _gaussian_classes(n=6000, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0, 0], [3, 0, 0], [0, 3, 1]])
    cov = np.array([[1.0, 0.3, 0], [0.3, 2.0, 0.4], [0, 0.4, 0.5]])
    y = rng.integers(0, 3, n)
    x = means[y] + rng.multivariate_normal(np.zeros(3), cov, n) + shift
    return x.astype(np.float32), y, means + shift, cov


def _oracle(n_classes=3, d=3):
    """A fixed classifier on d features (Mahalanobis on the input only needs its class count)."""
    torch.manual_seed(0)
    return mg.wrap(nn.Linear(d, n_classes), input_shape=(d,))


def _numpy_mahalanobis(x_train, y_train, x):
    xs = x_train.astype(np.float64)
    classes = np.unique(y_train)
    means = np.stack([xs[y_train == c].mean(0) for c in classes])
    resid = xs - means[np.searchsorted(classes, y_train)]
    prec = np.linalg.inv(resid.T @ resid / len(xs))
    diff = x.astype(np.float64)[:, None, :] - means[None]
    return np.einsum("nkd,de,nke->nk", diff, prec, diff).min(1), resid


def test_mahalanobis_equals_numpy_and_the_analytic_distance():
    x, y, means, cov = _gaussian_classes(n=50_000)
    det = D.Mahalanobis(_oracle(), layer="input", shrinkage=None).fit(x, y)
    probe = np.random.default_rng(5).normal(size=(200, 3)).astype(np.float32) * 3
    expected, _ = _numpy_mahalanobis(x, y, probe)
    np.testing.assert_allclose(det.score(probe), expected, rtol=1e-8)
    # Against the population distance: estimation error only (50,000 draws, 3 dimensions).
    diff = probe.astype(np.float64)[:, None, :] - means[None]
    analytic = np.einsum("nkd,de,nke->nk", diff, np.linalg.inv(cov), diff).min(1)
    np.testing.assert_allclose(det.score(probe), analytic, rtol=0.03, atol=0.03)


def test_ledoit_wolf_equals_scikit_learn_on_the_residuals():
    x, y, _, _ = _gaussian_classes(n=400)
    det = D.Mahalanobis(_oracle(), layer="input", shrinkage="ledoit-wolf").fit(x, y)
    _, resid = _numpy_mahalanobis(x, y, x[:1])
    lw = LedoitWolf(assume_centered=True).fit(resid)
    assert det.shrinkage_ == pytest.approx(lw.shrinkage_, rel=1e-8)
    np.testing.assert_allclose(det.covariance_, lw.covariance_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("shrinkage", ["ledoit-wolf", None, 0.3])
def test_streaming_mahalanobis_equals_one_shot(shrinkage):
    # A huge common offset: the shifted sums keep the pooled covariance exact (no cancellation).
    x, y, _, _ = _gaussian_classes(n=3000, shift=1e5)
    one = D.Mahalanobis(_oracle(), layer="input", shrinkage=shrinkage).fit(x, y)
    stream = D.Mahalanobis(_oracle(), layer="input", shrinkage=shrinkage)
    for part in np.array_split(np.arange(len(x)), 7):
        stream.partial_fit(x[part], y[part])
    probe = x[:300]
    np.testing.assert_allclose(stream.score(probe), one.score(probe), rtol=1e-8)
    _, resid = _numpy_mahalanobis(x, y, x[:1])
    if shrinkage is None:
        np.testing.assert_allclose(one.covariance_, resid.T @ resid / len(x), rtol=1e-7)


def test_knn_is_the_brute_force_kth_distance(digits_setup):
    s = digits_setup
    det = D.KNN(s.clf, layer="input", k=7).fit(s.x_train)
    bank = s.x_train / np.linalg.norm(s.x_train, axis=1, keepdims=True)
    q = s.x_pool[:100] / np.linalg.norm(s.x_pool[:100], axis=1, keepdims=True)
    dist = np.sqrt(((q[:, None, :] - bank[None]) ** 2).sum(-1))
    np.testing.assert_allclose(det.score(s.x_pool[:100]), np.sort(dist, axis=1)[:, 6], atol=2e-5)
    chunked = scores.kth_neighbour_distance(torch.tensor(q), torch.tensor(bank), 7, chunk=97)
    np.testing.assert_allclose(chunked.numpy(), np.sort(dist, axis=1)[:, 6], atol=2e-5)


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_gaussian_mixture_is_minus_scikit_learn_log_likelihood(cov):
    x, y, _, _ = _gaussian_classes(n=1500)
    det = D.GaussianMixture(_oracle(), n_components=3, covariance_type=cov).fit(x)
    ref = SkGMM(3, covariance_type=cov, random_state=0, reg_covar=1e-6).fit(x.astype(np.float64))
    np.testing.assert_allclose(det.score(x[:200]), -ref.score_samples(x[:200].astype(np.float64)), rtol=1e-6)


def test_ensemble_uncertainty_is_the_information_lens_mutual_information():
    rng = np.random.default_rng(3)
    stack = softmax(rng.normal(size=(5, 40, 4)) * 2, axis=-1)
    mi = scores.mutual_information(torch.tensor(stack)).numpy()
    # I(Y; M) from the joint table p(m, c) = p_m(c) / M.
    joint = np.transpose(stack, (1, 0, 2)) / stack.shape[0]
    np.testing.assert_allclose(mi, mg.info.mutual_information(joint, base=2), atol=1e-10)
    np.testing.assert_allclose(scores.predictive_entropy(torch.tensor(stack)).numpy(),
                               mg.info.entropy(stack.mean(0), base=2), atol=1e-10)


def test_deep_ensemble_and_mc_dropout_scores(digits_setup):
    s = digits_setup
    torch.manual_seed(0)
    members = [mg.wrap(nn.Sequential(nn.Linear(64, 10)), input_shape=(64,)) for _ in range(3)]
    det = D.DeepEnsemble(members)
    x = s.x_pool[:50]
    stack = np.stack([m.proba(torch.tensor(x)).detach().numpy() for m in members]).astype(np.float64)
    joint = np.transpose(stack, (1, 0, 2)) / 3
    np.testing.assert_allclose(det.score(x), mg.info.mutual_information(joint, base=2), atol=1e-5)
    mc = D.MCDropout(s.clf, samples=8)
    a, b = mc.score(x), mc.score(x)
    np.testing.assert_array_equal(a, b)  # seeded draws: reproducible
    assert (a >= -1e-6).all() and a.max() > 0
    assert not s.clf.module.training  # dropout switched back off
    with pytest.raises(mg.ModelError, match="Dropout"):
        D.MCDropout(members[0])


def test_detection_metrics_equal_scikit_learn():
    rng = np.random.default_rng(0)
    neg = np.round(rng.normal(0, 1, 500), 1)  # rounded: many ties
    pos = np.round(rng.normal(1, 1, 300), 1)
    m = D.detection_scores(neg, pos, threshold=0.5)
    yt = np.r_[np.zeros(500), np.ones(300)]
    ys = np.r_[neg, pos]
    assert m.auroc == pytest.approx(roc_auc_score(yt, ys), abs=1e-12)
    assert m.aupr == pytest.approx(average_precision_score(yt, ys), abs=1e-12)
    fpr, tpr, _ = roc_curve(yt, ys)
    assert m.fpr_at_95tpr == pytest.approx(fpr[np.searchsorted(tpr, 0.95)], abs=1e-12)
    assert m.tpr == pytest.approx((pos > 0.5).mean()) and m.fpr == pytest.approx((neg > 0.5).mean())
