"""Demo section: which detectors notice unusual digits and attacks, and which survive an adaptive attacker."""

from __future__ import annotations

import numpy as np

from mathguard.demo.context import DemoContext
from mathguard.detect import KNN, ODIN, Energy, FeatureSqueezing, Mahalanobis, MaxSoftmax, Reconstruction, evaluate_detectors
from mathguard.report import Report


def shifted_digits(x: np.ndarray, random_state: int) -> dict[str, np.ndarray]:
    """Three distribution shifts of (N, 1, 8, 8) digits in [0, 1]: noise, a quarter turn, inverted ink."""
    rng = np.random.default_rng(random_state)
    return {
        "noise σ=0.3": np.clip(x + rng.normal(0, 0.3, x.shape), 0, 1).astype(np.float32),
        "rotated 90°": np.rot90(x, 1, axes=(2, 3)).copy(),
        "inverted": (1.0 - x).astype(np.float32),
    }


def demo_section(ctx: DemoContext) -> Report:
    clf = ctx.classifier
    x_train, x_held = ctx.digits_images
    half = len(x_held) // 2
    x_val, x_test, y_test = x_held[:half], x_held[half:], ctx.digits.y_test[half:]
    fpr = 0.05
    detectors = [MaxSoftmax(clf), Energy(clf), ODIN(clf), Mahalanobis(clf), KNN(clf),
                 Reconstruction(clf, epochs=15 if ctx.quick else 30), FeatureSqueezing(clf)]
    for d in detectors:
        d.fit(x_train, ctx.digits.y_train).calibrate(x_val, fpr=fpr)
    report = evaluate_detectors(detectors, x_test, y=y_test, shifts=shifted_digits(x_test, ctx.random_state),
                      attacks={"fgsm": 0.1, "pgd": 0.1, "square": 0.1}, max_attack_points=60 if ctx.quick else 150,
                      adaptive_steps=20 if ctx.quick else 40, random_state=ctx.random_state)
    report.title = "Detectors: when not to trust a prediction"
    report.summary = (
        f"Seven detectors watch the digits CNN. Each is fitted on the training digits and calibrated on "
        f"{half} held-out digits so that at most {fpr:.0%} of clean inputs raise a false alarm (split-conformal "
        "guarantee), then measured on the other held-out digits against noise, rotated and inverted digits, "
        "FGSM, PGD and Square at L∞ eps 0.1, and an adaptive attack that knows each detector. "
        "MC dropout does not apply: the CNN has no dropout layer.")
    return report
