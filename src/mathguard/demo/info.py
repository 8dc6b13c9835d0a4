"""Demo section: which breast-cancer features inform the diagnosis, which repeat each other, and how
uncertainty sampling buys digits labels more cheaply than random sampling."""

from __future__ import annotations

import warnings

import numpy as np

from mathguard.demo.context import DemoContext
from mathguard.info.active import active_learning_curve
from mathguard.info.relevance import feature_relevance, information_gain, redundancy
from mathguard.report import Report


def demo_section(ctx: DemoContext) -> Report:
    from sklearn.linear_model import LogisticRegression

    bc = ctx.breast_cancer
    names = list(bc.feature_names)
    rng = np.random.default_rng(ctx.random_state)
    # Two planted columns of pure noise: the relevance check must call them uninformative.
    X = np.column_stack([bc.X_train, rng.normal(size=(len(bc.X_train), 2))])
    rel = feature_relevance(X, bc.y_train, feature_names=names + ["noise A", "noise B"], random_state=ctx.random_state)
    red = redundancy(bc.X_train, feature_names=names)
    best = rel.scores.index[0]
    split = information_gain(X[:, (names + ["noise A", "noise B"]).index(best)], bc.y_train)
    relevance = rel.report()
    relevance.summary += (f" The best single split, {best} ≤ {split.threshold:.4g}, lowers the label entropy from "
                          f"{split.entropy_before:.3f} to {split.entropy_after:.3f} bits (information gain "
                          f"{split.gain:.3f} bits).")
    relevance.metrics["best_split"] = {"feature": best, "threshold": split.threshold, "gain_bits": split.gain}
    d = ctx.digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence chatter on tiny labelled sets
        curve = active_learning_curve(LogisticRegression(max_iter=300), d.X_train, d.y_train, d.X_test, d.y_test,
                                      rounds=8 if ctx.quick else 15, repeats=2 if ctx.quick else 3,
                                      random_state=ctx.random_state)
    report = Report(title="Information: relevance, redundancy and uncertainty",
                    summary="Mutual information ranks the breast-cancer features (two planted noise columns "
                            "included), normalised MI groups the ones that repeat each other, and margin-based "
                            "uncertainty sampling is raced against random sampling on digits.")
    for section in (relevance, red.report(), curve.report()):
        report.add_section(section)
    return report
