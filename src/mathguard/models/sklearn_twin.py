"""Exact differentiable torch twins of scikit-learn classifiers.

Linear classifiers and MLPs are small enough to rebuild layer by layer, so white-box
attacks, exact margins and interval bounds work on them; a Pipeline of affine scalers
ending in one of them folds the scalers into the first layer. The twin computes in float64:
sklearn does, and a float32 twin would drift from it by ~1e-5 on unscaled features.

Logits convention (so that ``softmax(logits)`` is sklearn's ``predict_proba``):

* multi-class: the decision values / output-layer values, one per class;
* binary (sklearn gives one score ``d``): ``[0, d]``, hence ``softmax = [1 - σ(d), σ(d)]``;
* one-vs-rest logistic models (``SGDClassifier(loss="log_loss")`` with > 2 classes), whose
  ``predict_proba`` normalises per-class sigmoids: ``log σ(d)``, a monotone map of the
  decision values, so the argmax and the decision boundaries are unchanged.

``SGDClassifier(loss="modified_huber")`` keeps its decision values as logits: its
``predict_proba`` clips them to [-1, 1] and is exactly 0 or 1 outside, which no finite
logits reproduce, and flat logits would hide every gradient from attacks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from mathguard.errors import ModelError
from mathguard.models.base import check_normalisation
from mathguard.models.torch_model import TorchClassifier

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


class Float64(nn.Module):
    """Identity on values, cast to float64: the first layer of every twin."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float64)


def _linear(weight: np.ndarray, bias: np.ndarray) -> nn.Linear:
    """A float64 ``nn.Linear`` with y = x @ weight.T + bias."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float64)))
        layer.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float64)))
    return layer


def _binary_as_two(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn one score d = w·x + b into the two logits [0, d] by prepending a zero row."""
    return np.vstack([np.zeros_like(weight), weight]), np.concatenate([[0.0], bias])


def _check_fitted(est: Any) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except NotFittedError:
        raise ModelError(f"the {type(est).__name__} is not fitted; call .fit(X, y) before wrap()") from None


def _is_ovr_logistic(est: Any, n_classes: int) -> bool:
    """True when predict_proba normalises one sigmoid per class instead of a softmax."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    if n_classes <= 2:
        return False
    if isinstance(est, SGDClassifier):
        return est.loss == "log_loss"
    # LogisticRegression(multi_class="ovr") in scikit-learn < 1.8 (LinearSVC's multi_class="ovr" is no logistic).
    return isinstance(est, LogisticRegression) and getattr(est, "multi_class", None) == "ovr"


def linear_twin_net(est: Any) -> tuple[nn.Sequential, int]:
    """A torch module equal to a fitted linear sklearn classifier, and its class count."""
    from scipy import sparse

    coef = est.coef_.toarray() if sparse.issparse(est.coef_) else np.asarray(est.coef_, dtype=np.float64)
    coef = np.atleast_2d(coef).astype(np.float64)
    n_classes = len(est.classes_)
    intercept = np.broadcast_to(np.asarray(est.intercept_, dtype=np.float64), (coef.shape[0],)).copy()
    if coef.shape[0] != (1 if n_classes == 2 else n_classes):
        raise ModelError(f"{type(est).__name__} has coef_ of shape {coef.shape} for {n_classes} classes; "
                         "multi-output classifiers are not supported")
    if n_classes == 2:
        coef, intercept = _binary_as_two(coef, intercept)
    layers: list[nn.Module] = [Float64(), _linear(coef, intercept)]
    if _is_ovr_logistic(est, n_classes):
        layers.append(nn.LogSigmoid())
    return nn.Sequential(*layers), n_classes


def mlp_twin_net(est: Any) -> tuple[nn.Sequential, int]:
    """A torch module equal to a fitted MLPClassifier's pre-activation output layer."""
    n_classes = len(est.classes_)
    single_label = est.out_activation_ == ("logistic" if n_classes == 2 else "softmax")
    if not single_label or est.n_outputs_ != (1 if n_classes == 2 else n_classes):
        raise ModelError("multilabel MLPClassifier is not supported: its outputs are independent sigmoids, "
                         "not one distribution over classes")
    act = _ACTIVATIONS.get(est.activation)
    if act is None:
        raise ModelError(f"MLPClassifier activation {est.activation!r} is not supported")
    layers: list[nn.Module] = [Float64()]
    n_layers = len(est.coefs_)
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        weight, bias = np.asarray(w, dtype=np.float64).T, np.asarray(b, dtype=np.float64)
        if i == n_layers - 1:
            if n_classes == 2:
                weight, bias = _binary_as_two(weight, bias)
            layers.append(_linear(weight, bias))
        else:
            layers += [_linear(weight, bias), act()]
    return nn.Sequential(*layers), n_classes


def twin_builder(est: Any) -> "Any | None":
    """The function that builds a twin for a (final) estimator, or None when there is no exact twin."""
    from sklearn.linear_model._base import LinearClassifierMixin
    from sklearn.neural_network import MLPClassifier

    if isinstance(est, MLPClassifier):
        return mlp_twin_net
    if isinstance(est, LinearClassifierMixin):
        return linear_twin_net
    return None


def _is_affine_scaler(step: Any) -> bool:
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

    if isinstance(step, MinMaxScaler):
        return not step.clip  # clipping is not affine
    return isinstance(step, (StandardScaler, MaxAbsScaler))


def twin_parts(est: Any) -> tuple[list[Any], Any] | None:
    """(affine scalers, final classifier) when ``est`` has an exact twin, else None.

    A Pipeline qualifies when every step before the classifier is a per-feature affine
    scaler (StandardScaler, MinMaxScaler without clip, MaxAbsScaler): they fold into the
    twin's first layer, so the twin takes the pipeline's raw inputs.
    """
    from sklearn.pipeline import Pipeline

    steps = [est]
    if isinstance(est, Pipeline):
        steps = [step for _, step in est.steps if step is not None and step != "passthrough"]
    *scalers, final = steps
    if twin_builder(final) is None or not all(_is_affine_scaler(s) for s in scalers):
        return None
    return scalers, final


def _input_affine(scalers: list[Any], n_features: int, mean: Any, std: Any) -> tuple[np.ndarray, np.ndarray]:
    """(a, c) such that the classifier sees a * x + c: user normalisation first, then each scaler."""
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler

    a, c = np.ones(n_features), np.zeros(n_features)
    if (mean is None) != (std is None):
        raise ModelError("give both mean and std for input normalisation, or neither")
    if mean is not None:
        m = np.broadcast_to(np.asarray(mean, dtype=np.float64), (n_features,))
        sd = np.broadcast_to(np.asarray(std, dtype=np.float64), (n_features,))
        if (sd <= 0).any():
            raise ModelError("normalisation std must be positive")
        a, c = 1 / sd, -m / sd
    for sc in scalers:
        if isinstance(sc, MinMaxScaler):
            a, c = a * sc.scale_, c * sc.scale_ + sc.min_
        elif isinstance(sc, MaxAbsScaler):
            a, c = a / sc.scale_, c / sc.scale_
        else:  # StandardScaler: mean_ is fitted even when with_mean=False, so follow the flags
            mu = sc.mean_ if sc.with_mean else 0.0
            sd = sc.scale_ if sc.with_std else 1.0
            a, c = a / sd, (c - mu) / sd
    return a, c


def _fold_affine(layer: nn.Linear, a: np.ndarray, c: np.ndarray) -> None:
    """Make ``layer(x)`` equal the old ``layer(a * x + c)``, exactly in float64."""
    with torch.no_grad():
        W = layer.weight.clone()
        layer.weight.mul_(torch.from_numpy(a))
        layer.bias.add_(W @ torch.from_numpy(c))


class SklearnTwin(TorchClassifier):
    """A fitted scikit-learn classifier (or scaler pipeline) rebuilt as a float64 torch module.

    ``estimator`` is the original; ``classes`` maps logit column i to its ``classes_[i]``.
    Scalers and ``mean``/``std`` normalisation are folded into the first layer, so the
    module takes raw inputs and is a plain stack of Linear and activation layers after the
    float64 cast. Logits are float64 (see the module docstring for the convention).
    """

    kind = "sklearn-twin"

    def __init__(self, estimator: Any, *, bounds: tuple[float, float] | None = None,
                 mean: Any = None, std: Any = None) -> None:
        parts = twin_parts(estimator)
        if parts is None:
            raise ModelError(f"{type(estimator).__name__} has no exact torch twin")
        _check_fitted(estimator)
        check_normalisation(mean, std)
        scalers, final = parts
        builder = twin_builder(final)
        net, n_classes = builder(final)
        n_features = int(estimator.n_features_in_)
        if scalers or mean is not None or std is not None:
            _fold_affine(net[1], *_input_affine(scalers, n_features, mean, std))
        net.eval()
        super().__init__(net, (n_features,), n_classes, bounds=bounds)
        self.estimator = estimator
        self.classes = np.asarray(final.classes_)
        self._is_linear = builder is linear_twin_net

    @property
    def linear_weights(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(W, b) in raw input space with decision values = x @ W.T + b, or None for an MLP.

        W has one row per class (binary: rows [0, w], so row 1 - row 0 is sklearn's ``coef_``),
        scalers and normalisation are folded in, and argmax(x @ W.T + b) is the prediction. The
        logits equal x @ W.T + b, except for one-vs-rest logistic models where they are log σ of it.
        The exact minimal L2 perturbation that flips a binary model is |d(x)| / ‖W[1] - W[0]‖.
        """
        if not self._is_linear:
            return None
        layer = self.net[1]
        return layer.weight.detach().clone(), layer.bias.detach().clone()


def sklearn_classifier(est: Any, *, bounds: tuple[float, float] | None = None,
                       mean: Any = None, std: Any = None) -> Any:
    """An exact twin when one exists, otherwise a black-box classifier over ``predict_proba``."""
    if twin_parts(est) is not None:
        return SklearnTwin(est, bounds=bounds, mean=mean, std=std)
    from mathguard.models.blackbox import BlackBoxClassifier

    _check_fitted(est)
    name = type(est).__name__
    if not hasattr(est, "predict_proba"):
        raise ModelError(f"{name} has no predict_proba and no exact twin; use a probabilistic model "
                         "(e.g. SVC(probability=True)) or wrap a function returning probabilities")
    if not hasattr(est, "classes_") or not hasattr(est, "n_features_in_"):
        raise ModelError(f"{name} is not a fitted single-output classifier (no classes_ / n_features_in_)")
    return BlackBoxClassifier(
        lambda x: est.predict_proba(x.reshape(len(x), -1)),
        n_classes=len(est.classes_),
        input_shape=(int(est.n_features_in_),),
        output="proba",
        kind="sklearn",
        bounds=bounds,
        mean=mean,
        std=std,
        name=name,
    )

