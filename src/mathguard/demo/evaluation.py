"""Demo section: is the CNN really better than logistic regression, is it calibrated, where is the error?"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import softmax

from mathguard.demo.context import DemoContext
from mathguard.evaluation.bias_variance import bias_variance_curve
from mathguard.evaluation.calibration import calibration, fit_temperature
from mathguard.evaluation.paired import compare
from mathguard.report import Report


def demo_section(ctx: DemoContext) -> Report:
    """Paired comparison, calibration with temperature scaling, and a bias–variance curve on digits."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    d = ctx.digits
    report = Report(title="Statistics: significance, calibration, bias–variance",
                    summary="The demo CNN against logistic regression on the same digits test set, the CNN's "
                    "calibration before and after temperature scaling, and a decision tree's error split into "
                    "bias and variance across depths.")
    net = ctx.cnn  # trained lazily: must happen outside no_grad
    with torch.no_grad():
        logits = net(torch.as_tensor(ctx.digits_images[1])).double().numpy()
    lr = LogisticRegression(max_iter=1000).fit(d.X_train, d.y_train)
    cmp = compare(d.y_test, lr.predict(d.X_test), logits.argmax(axis=1), metric="accuracy", min_effect=0.01,
                  n_resamples=2000 if ctx.quick else 10_000, random_state=ctx.random_state, names=("logistic regression", "CNN"))
    report.add_section(cmp.report())

    # temperature fitted on one half of the test set, judged on the other half
    half = np.random.default_rng(ctx.random_state).permutation(d.y_test.size)
    val, test = half[: half.size // 2], half[half.size // 2:]
    temp = fit_temperature(d.y_test[val], logits[val])
    before = calibration(d.y_test[test], softmax(logits[test], axis=1), logits=logits[test])
    after = calibration(d.y_test[test], temp.apply(logits[test]))
    cal = before.report("Calibration of the CNN (held-out half)")
    cal.metrics.update(temperature_fitted_on_validation=temp.temperature, ece_after_validation_temperature=after.ece,
                       nll_after_validation_temperature=after.nll)
    cal.figures.append(after.figure(f"Reliability after temperature T = {temp.temperature:.2f} (fitted on the other half)"))
    report.add_section(cal)

    # a quarter of the labels resampled at random, so deep trees visibly overfit (the U of the curve)
    rng = np.random.default_rng(ctx.random_state)
    noisy = d.y_train.copy()
    flip = rng.random(noisy.size) < 0.25
    noisy[flip] = rng.integers(0, 10, int(flip.sum()))
    depths = [2, 6, 12, None] if ctx.quick else [2, 4, 6, 8, 12, None]
    curve = bias_variance_curve(lambda depth: DecisionTreeClassifier(max_depth=depth, random_state=ctx.random_state),
                                depths, d.X_train, noisy, param_name="max_depth",
                                rounds=8 if ctx.quick else 20, random_state=ctx.random_state)
    curve.summary += " Training labels carry 25 % random noise so that overfitting shows."
    report.add_section(curve)
    return report
