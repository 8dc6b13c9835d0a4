"""The sklearn twins reproduce sklearn's numbers to 1e-6 and have true gradients."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Perceptron, RidgeClassifier, SGDClassifier
from sklearn.decomposition import PCA
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC

import mathguard as mg
from mathguard.errors import ModelError
from mathguard.models.sklearn_twin import SklearnTwin

TOL = 1e-6

LINEAR = {
    "logreg": lambda: LogisticRegression(max_iter=300),
    "linear-svc": lambda: LinearSVC(max_iter=2000),
    "sgd-hinge": lambda: SGDClassifier(random_state=0, max_iter=50, tol=None),
    "sgd-log": lambda: SGDClassifier(loss="log_loss", random_state=0, max_iter=50, tol=None),
    "sgd-huber": lambda: SGDClassifier(loss="modified_huber", random_state=0, max_iter=50, tol=None),
    "ridge": lambda: RidgeClassifier(alpha=1.0),
    "perceptron": lambda: Perceptron(random_state=0),  # any LinearClassifierMixin gets a twin
}
# Estimators whose predict_proba is a softmax/sigmoid the twin's logits reproduce (modified_huber's is clipped).
PROBA_MATCH = {"logreg", "sgd-log"}


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _data(request, name):
    return request.getfixturevalue(name)


def _logits(clf, X):
    with torch.no_grad():
        return clf.logits(torch.from_numpy(X)).numpy()


@pytest.mark.parametrize("dataset", ["cancer_std", "cancer", "digits"])
@pytest.mark.parametrize("name", list(LINEAR))
def test_linear_twin_equals_sklearn(request, name, dataset):
    X, y = _data(request, dataset)
    est = _fit(LINEAR[name](), X, y)
    clf = mg.wrap(est)
    assert isinstance(clf, SklearnTwin) and clf.kind == "sklearn-twin" and clf.has_gradients
    assert clf.n_classes == len(est.classes_) and clf.input_shape == (X.shape[1],)
    assert isinstance(clf.module, torch.nn.Module)

    # float32 inputs, as attacks send them; X is float32-representable, so sklearn sees the same values.
    logits = clf.logits(torch.from_numpy(X.astype(np.float32))).detach().numpy()
    assert logits.dtype == np.float64
    d = est.decision_function(X)
    W, b = (t.numpy() for t in clf.linear_weights)
    lin = X @ W.T + b
    if clf.n_classes == 2:
        np.testing.assert_allclose(logits[:, 0], 0.0, atol=0)
        np.testing.assert_allclose(logits[:, 1], d, rtol=TOL, atol=TOL)
        np.testing.assert_allclose(lin[:, 1] - lin[:, 0], d, rtol=TOL, atol=TOL)
    else:
        np.testing.assert_allclose(lin, d, rtol=TOL, atol=TOL)
        if name == "sgd-log":  # one-vs-rest logistic: logits are log σ(d)
            np.testing.assert_allclose(logits, -np.logaddexp(0, -d), rtol=TOL, atol=TOL)
        else:
            np.testing.assert_allclose(logits, d, rtol=TOL, atol=TOL)
    if name in PROBA_MATCH:
        proba = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
        np.testing.assert_allclose(proba, est.predict_proba(X), rtol=TOL, atol=TOL)
    np.testing.assert_array_equal(clf.classes[clf.predict(X).numpy()], est.predict(X))


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("dataset", ["cancer_std", "digits"])
def test_mlp_twin_equals_sklearn(request, activation, dataset):
    X, y = _data(request, dataset)
    est = _fit(MLPClassifier(hidden_layer_sizes=(12, 7), activation=activation, max_iter=40, random_state=0), X, y)
    clf = mg.wrap(est)
    assert clf.kind == "sklearn-twin" and clf.linear_weights is None
    logits = _logits(clf, X)
    proba = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    np.testing.assert_allclose(proba, est.predict_proba(X), rtol=TOL, atol=TOL)
    if clf.n_classes == 2:
        np.testing.assert_array_equal(logits[:, 0], 0.0)
        # sklearn's binary output unit is σ(z): recover z from the twin and compare in logit space too.
        np.testing.assert_allclose(1 / (1 + np.exp(-logits[:, 1])), est.predict_proba(X)[:, 1], rtol=TOL, atol=TOL)
    np.testing.assert_array_equal(clf.classes[clf.predict(X).numpy()], est.predict(X))


@pytest.mark.parametrize("builder", [
    lambda: LogisticRegression(max_iter=300),
    lambda: MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", max_iter=30, random_state=0),
])
def test_twin_gradients_match_finite_differences(digits, builder):
    X, y = digits
    clf = mg.wrap(_fit(builder(), X, y))
    x = torch.from_numpy(X[:3]).clone().requires_grad_(True)
    assert torch.autograd.gradcheck(clf.logits, (x,), eps=1e-6, atol=1e-7)


def test_linear_gradient_is_the_weight_row(cancer_std):
    X, y = cancer_std
    clf = mg.wrap(_fit(LinearSVC(max_iter=2000), X, y))
    x = torch.from_numpy(X[:5].astype(np.float32)).requires_grad_(True)
    clf.logits(x)[:, 1].sum().backward()
    W, _ = clf.linear_weights
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(W[1].numpy(), x.shape), rtol=1e-6)


def test_normalisation_folds_into_linear_weights(cancer):
    X, y = cancer
    mean, std = X.mean(0), X.std(0)
    est = _fit(LogisticRegression(max_iter=500), (X - mean) / std, y)
    clf = mg.wrap(est, mean=mean, std=std)
    W, b = (t.numpy() for t in clf.linear_weights)
    d = est.decision_function((X - mean) / std)
    np.testing.assert_allclose((X @ W.T + b)[:, 1] - (X @ W.T + b)[:, 0], d, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(_logits(clf, X)[:, 1], d, rtol=TOL, atol=TOL)
    with pytest.raises(ModelError, match="both mean and std"):
        mg.wrap(est, mean=mean)
    with pytest.raises(ModelError, match="std must be positive"):
        mg.wrap(est, mean=mean, std=0.0)


@pytest.mark.parametrize("scalers, final, dataset", [
    ([StandardScaler()], LogisticRegression(max_iter=300), "cancer"),
    ([MinMaxScaler(), StandardScaler(with_mean=False)], LinearSVC(max_iter=3000), "cancer"),
    ([MaxAbsScaler(), "passthrough"],
     MLPClassifier(hidden_layer_sizes=(10,), activation="tanh", max_iter=40, random_state=0), "digits"),
])
def test_scaler_pipelines_fold_into_the_twin(request, scalers, final, dataset):
    X, y = _data(request, dataset)
    pipe = _fit(make_pipeline(*scalers, final), X, y)
    clf = mg.wrap(pipe)
    assert isinstance(clf, SklearnTwin) and clf.input_shape == (X.shape[1],)
    assert all(isinstance(m, (torch.nn.Linear, torch.nn.Tanh)) for m in list(clf.module)[1:])
    proba = torch.softmax(torch.from_numpy(_logits(clf, X)), dim=1).numpy()
    if hasattr(pipe, "decision_function"):
        np.testing.assert_allclose(_logits(clf, X)[:, 1], pipe.decision_function(X), rtol=TOL, atol=TOL)
    if hasattr(pipe, "predict_proba"):
        np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=TOL, atol=TOL)
    np.testing.assert_array_equal(clf.classes[proba.argmax(axis=1)], pipe.predict(X))


def test_pipeline_with_a_non_affine_step_is_black_box(cancer):
    X, y = cancer
    clf = mg.wrap(make_pipeline(MinMaxScaler(clip=True), LogisticRegression(max_iter=300)).fit(X, y))
    assert clf.kind == "sklearn" and not clf.has_gradients
    with pytest.raises(ModelError, match="Pipeline has no predict_proba"):
        mg.wrap(_fit(make_pipeline(PCA(5), LinearSVC()), X, y))


def test_forest_is_black_box(digits):
    X, y = digits
    est = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    clf = mg.wrap(est)
    assert clf.kind == "sklearn" and not clf.has_gradients and clf.module is None
    assert clf.n_classes == 10 and clf.input_shape == (64,)
    proba = torch.softmax(clf.logits(torch.from_numpy(X[:200])), dim=1).numpy()
    np.testing.assert_allclose(proba, est.predict_proba(X[:200]), atol=1e-9)
    np.testing.assert_array_equal(clf.predict(X[:200]).numpy(), est.predict(X[:200]))


@pytest.mark.parametrize("est", [LogisticRegression(), MLPClassifier(), RandomForestClassifier(),
                                 make_pipeline(StandardScaler(), LogisticRegression())])
def test_unfitted_estimator_is_refused(est):
    with pytest.raises(ModelError, match="not fitted"):
        mg.wrap(est)


def test_estimator_without_proba_or_twin_is_refused(cancer_std):
    from sklearn.svm import SVC

    X, y = cancer_std
    with pytest.raises(ModelError, match="no predict_proba"):
        mg.wrap(SVC().fit(X, y))


def test_multilabel_mlp_is_refused(digits):
    X, y = digits
    Y = np.stack([y % 2, (y > 4).astype(int)], axis=1)
    est = _fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0), X[:200], Y[:200])
    with pytest.raises(ModelError, match="multilabel"):
        mg.wrap(est)


def test_wrap_options_must_agree_with_the_estimator(cancer_std):
    X, y = cancer_std
    est = LogisticRegression().fit(X, y)
    assert mg.wrap(est, input_shape=(30,), n_classes=2, bounds=(-5, 5)).bounds == (-5.0, 5.0)
    with pytest.raises(ModelError, match=r"input_shape \(64,\) does not match the estimator's \(30,\)"):
        mg.wrap(est, input_shape=(64,))
    with pytest.raises(ModelError, match="n_classes=3 does not match the estimator's 2 classes"):
        mg.wrap(est, n_classes=3)


def _ce_input_gradient(clf, X, y) -> np.ndarray:
    x = torch.from_numpy(X).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(clf.logits(x), torch.from_numpy(y), reduction="sum")
    return torch.autograd.grad(loss, x)[0].numpy()


def test_loss_gradient_matches_finite_differences_of_sklearns_own_loss(digits):
    X, y = digits
    est = LogisticRegression(max_iter=300).fit(X, y)
    x, t, h = X[:4], y[:4], 1e-6
    rows = np.arange(len(t))
    fd = np.empty_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        up = -np.log(est.predict_proba(x + e)[rows, t])
        down = -np.log(est.predict_proba(x - e)[rows, t])
        fd[:, j] = (up - down) / (2 * h)
    np.testing.assert_allclose(_ce_input_gradient(mg.wrap(est), x, t), fd, atol=1e-7)


def test_binary_loss_gradient_matches_art(cancer):
    import art.estimators.classification.scikitlearn as art
    X, y = cancer
    X = X / X.max(axis=0)
    est = LogisticRegression(max_iter=500).fit(X, y)
    reference = art.ScikitlearnLogisticRegression(est, clip_values=(0, 1)).loss_gradient(X[:50], np.eye(2)[y[:50]])
    np.testing.assert_allclose(_ce_input_gradient(mg.wrap(est), X[:50], y[:50]), reference, atol=1e-6)
