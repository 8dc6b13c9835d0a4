"""Detectors by name, fitted, calibrated and evaluated in one call (what `mathguard detect` runs)."""

from __future__ import annotations

import inspect
from typing import Any, Mapping, Sequence

from mathguard.detect.base import Detector
from mathguard.detect.evaluate import evaluate_detectors
from mathguard.detect.feature import KNN, ActivationEntropy, Mahalanobis
from mathguard.detect.input import FeatureSqueezing, GaussianMixture, Reconstruction
from mathguard.detect.logit import ODIN, Energy, Entropy, MaxSoftmax
from mathguard.detect.uncertainty import MCDropout
from mathguard.errors import InputError
from mathguard.models.base import Classifier
from mathguard.report import Report
from mathguard.params import COUNT, INT_SEED, OPEN_UNIT, SEED, declare

DETECTORS: dict[str, type[Detector]] = {cls.name: cls for cls in (
    MaxSoftmax, Entropy, Energy, ODIN, Mahalanobis, KNN, ActivationEntropy, MCDropout, Reconstruction,
    FeatureSqueezing, GaussianMixture)}


@declare(random_state=INT_SEED)
def make_detector(name: str, clf: Classifier, *, layer: str | None = None, random_state: int = 0) -> Detector:
    """A detector from its name; ``layer`` goes to the detectors that read one, ``random_state`` to the seeded."""
    if name not in DETECTORS:
        raise InputError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")
    cls = DETECTORS[name]
    takes = inspect.signature(cls.__init__).parameters
    options: dict[str, Any] = {"layer": layer} if (layer is not None and "layer" in takes) else {}
    if "random_state" in takes:
        options["random_state"] = random_state
    return cls(clf, **options)


@declare(fpr=OPEN_UNIT, max_attack_points=COUNT, adaptive_steps=COUNT, random_state=SEED)
def detect_report(clf: Classifier, *, train: tuple[Any, Any], val: Any, test: tuple[Any, Any],
                  detectors: Sequence[str] = ("max-softmax", "energy", "mahalanobis", "knn"),
                  ood: Mapping[str, Any] | None = None, attacks: Mapping[str, float] | None = None,
                  fpr: float = 0.05, layer: str | None = None, adaptive: bool = True,
                  max_attack_points: int = 500, adaptive_steps: int = 50, random_state: int = 0) -> Report:
    """Fit on ``train`` (x, y), calibrate on clean ``val`` inputs at ``fpr``, evaluate on ``test`` (x, y).
    ``random_state`` seeds the detectors that sample and every attack."""
    built = [make_detector(n, clf, layer=layer, random_state=random_state) for n in detectors]
    if not built:
        raise InputError("no detectors named")
    x_train, y_train = train
    for d in built:
        d.fit(x_train, y_train).calibrate(val, fpr=fpr)
    x_test, y_test = test
    return evaluate_detectors(built, x_test, shifts=ood, attacks=attacks, adaptive=adaptive and bool(attacks), y=y_test,
                    max_attack_points=max_attack_points, adaptive_steps=adaptive_steps, random_state=random_state)
