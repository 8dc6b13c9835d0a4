"""Detectors by name, fitted, calibrated and evaluated in one call (what `mathguard detect` runs)."""

from __future__ import annotations

import inspect
from typing import Any, Mapping, Sequence

from mathguard.detect.base import Detector
from mathguard.detect.evaluate import evaluate
from mathguard.detect.feature import KNN, ActivationEntropy, Mahalanobis
from mathguard.detect.input import FeatureSqueezing, GaussianMixture, Reconstruction
from mathguard.detect.logit import ODIN, Energy, Entropy, MaxSoftmax
from mathguard.detect.uncertainty import MCDropout
from mathguard.errors import InputError
from mathguard.models.base import Classifier
from mathguard.report import Report

DETECTORS: dict[str, type[Detector]] = {cls.name: cls for cls in (
    MaxSoftmax, Entropy, Energy, ODIN, Mahalanobis, KNN, ActivationEntropy, MCDropout, Reconstruction,
    FeatureSqueezing, GaussianMixture)}


def make_detector(name: str, clf: Classifier, *, layer: str | None = None) -> Detector:
    """A detector from its name; ``layer`` goes to the detectors that read one."""
    if name not in DETECTORS:
        raise InputError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")
    cls = DETECTORS[name]
    takes_layer = "layer" in inspect.signature(cls.__init__).parameters
    return cls(clf, layer=layer) if (layer is not None and takes_layer) else cls(clf)


def detect_report(clf: Classifier, *, train: tuple[Any, Any], val: Any, test: tuple[Any, Any],
                  detectors: Sequence[str] = ("max-softmax", "energy", "mahalanobis", "knn"),
                  ood: Mapping[str, Any] | None = None, attacks: Mapping[str, float] | None = None,
                  fpr: float = 0.05, layer: str | None = None, adaptive: bool = True,
                  max_attack_points: int = 500, adaptive_steps: int = 50) -> Report:
    """Fit on ``train`` (x, y), calibrate on clean ``val`` inputs at ``fpr``, evaluate on ``test`` (x, y)."""
    built = [make_detector(n, clf, layer=layer) for n in detectors]
    if not built:
        raise InputError("no detectors named")
    x_train, y_train = train
    for d in built:
        d.fit(x_train, y_train).calibrate(val, fpr=fpr)
    x_test, y_test = test
    return evaluate(built, x_test, shifts=ood, attacks=attacks, adaptive=adaptive and bool(attacks), y=y_test,
                    max_attack_points=max_attack_points, adaptive_steps=adaptive_steps)
