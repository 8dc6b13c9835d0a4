"""`wrap()`: dispatch any supported model object to its Classifier."""

from __future__ import annotations

import os
from typing import Any, Sequence

import torch
from torch import nn

from mathguard.errors import InputError, ModelError
from mathguard.models.base import Classifier, check_input_shape
from mathguard.models.torch_model import TorchClassifier, device_and_dtype, eval_mode, forward


def _infer_n_classes(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    device, dtype = device_and_dtype(net)
    with eval_mode(net), torch.no_grad():
        out = forward(net, torch.zeros(1, *input_shape, device=device, dtype=dtype))
    if out.ndim != 2:
        raise ModelError(f"model output has shape {tuple(out.shape)}; a classifier must return (N, classes)")
    return int(out.shape[1])


def wrap(
    obj: Any,
    *,
    bounds: tuple[float, float] | None = None,
    input_shape: Sequence[int] | None = None,
    n_classes: int | None = None,
    mean: Any = None,
    std: Any = None,
    labels_only: bool = False,
) -> Classifier:
    """Put ``obj`` behind the Classifier protocol.

    * torch ``nn.Module`` (needs ``input_shape``; ``n_classes`` is inferred by one forward);
    * fitted scikit-learn classifier: an exact float64 torch twin for linear models
      (LogisticRegression, LinearSVC, SGDClassifier, RidgeClassifier, ...) and MLPClassifier,
      a black-box over ``predict_proba`` for anything else (forests, kNN, pipelines);
    * ONNX model as a ``.onnx`` path, bytes or ``onnx.ModelProto`` (needs ``mathguard[onnx]``);
    * any callable mapping an (N, *input_shape) numpy batch to (N, C) probabilities
      (needs ``input_shape``; every answer is validated).

    ``bounds`` is the valid raw input range; ``mean``/``std`` normalisation is applied
    inside the model so attacks and certificates work in raw input space.
    ``labels_only=True`` exposes predicted labels alone (an API): ``obj`` is any of the above,
    or a function returning N integer labels (needs ``input_shape`` and ``n_classes``).
    """
    if labels_only:
        from mathguard.models.labels_only import LabelsOnlyClassifier

        if isinstance(obj, Classifier) or not callable(obj) or isinstance(obj, nn.Module) or _is_sklearn(obj):
            return LabelsOnlyClassifier(wrap(obj, bounds=bounds, input_shape=input_shape, n_classes=n_classes,
                                             mean=mean, std=std))
        return LabelsOnlyClassifier(obj, input_shape=input_shape, n_classes=n_classes, bounds=bounds)
    if isinstance(obj, Classifier):
        return obj
    if isinstance(obj, nn.Module):
        if input_shape is None:
            raise ModelError("wrap(torch module) needs input_shape=(...) for one input, e.g. (1, 28, 28)")
        shape = check_input_shape(input_shape)
        k = n_classes if n_classes is not None else _infer_n_classes(obj, shape)
        return TorchClassifier(obj, shape, k, bounds=bounds, mean=mean, std=std)
    if _is_sklearn(obj):
        from mathguard.models.sklearn_twin import sklearn_classifier

        clf = sklearn_classifier(obj, bounds=bounds, mean=mean, std=std)
        if input_shape is not None and tuple(int(d) for d in input_shape) != clf.input_shape:
            raise ModelError(f"input_shape {tuple(input_shape)} does not match the estimator's {clf.input_shape}")
        if n_classes is not None and int(n_classes) != clf.n_classes:
            raise ModelError(f"n_classes={n_classes} does not match the estimator's {clf.n_classes} classes")
        return clf
    if _is_onnx(obj):
        from mathguard.models.onnx_model import onnx_classifier

        return onnx_classifier(obj, input_shape=input_shape, n_classes=n_classes, bounds=bounds, mean=mean, std=std)
    if callable(obj):
        from mathguard.models.blackbox import BlackBoxClassifier

        if input_shape is None:
            raise ModelError("wrap(callable) needs input_shape=(...) for one input, e.g. (64,)")
        return BlackBoxClassifier(obj, input_shape=input_shape, n_classes=n_classes, output="proba",
                                  kind="callable", bounds=bounds, mean=mean, std=std,
                                  name=getattr(obj, "__name__", "callable"))
    raise ModelError(f"cannot wrap an object of type {type(obj).__name__}; expected a torch module, a "
                     "scikit-learn classifier, an ONNX model (path, bytes or ModelProto) or a predict_proba callable")


def _is_sklearn(obj: Any) -> bool:
    from sklearn.base import BaseEstimator

    if isinstance(obj, BaseEstimator):
        return True
    return hasattr(obj, "fit") and hasattr(obj, "get_params")


def _is_onnx(obj: Any) -> bool:
    if isinstance(obj, (bytes, bytearray)):
        return True
    if isinstance(obj, (str, os.PathLike)):
        return str(obj).lower().endswith(".onnx")
    return type(obj).__name__ == "ModelProto"


#: The options ``wrap`` takes, which an entry point given a raw model passes on.
MODEL_OPTIONS = ("bounds", "input_shape", "n_classes", "mean", "std", "labels_only")


def as_classifier(model: Any, what: str = "model", **options: Any) -> Classifier:
    """The one way an entry point takes a model: a Classifier as it is, or anything ``wrap`` takes with
    ``wrap``'s options. An unknown option, or options next to a model already wrapped (they would be silently
    ignored), is an InputError naming it."""
    unknown = sorted(set(options) - set(MODEL_OPTIONS))
    if unknown:
        raise InputError(f"unknown model option(s) {', '.join(unknown)} for {what}; the options are "
                         f"{', '.join(MODEL_OPTIONS)} (as for mg.wrap)")
    if isinstance(model, Classifier):
        given = sorted(k for k, v in options.items() if v is not None and v is not False)
        if given:
            raise InputError(f"{what} is already a Classifier: {', '.join(given)} would be ignored; give them to "
                             "mg.wrap once, or pass the raw model here")
        return model
    return wrap(model, **options)
