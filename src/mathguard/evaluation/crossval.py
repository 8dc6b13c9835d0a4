"""Compare two learning algorithms by retraining them: 5×2cv and corrected repeated k-fold.

A single test set ignores the variance that comes from the training sample; these tests
retrain both models on several splits and account for the overlap between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import f as f_dist
from scipy.stats import t as t_dist
from sklearn.base import clone
from sklearn.metrics import get_scorer
from sklearn.model_selection import RepeatedKFold, train_test_split

from mathguard import validate
from mathguard.errors import InputError
from mathguard.params import COUNT, OPEN_UNIT, SEED, Check, Choice, Int, declare
from mathguard.report import Finding, Report, Severity


@dataclass(frozen=True)
class CVComparison:
    """Differences are score(B) − score(A) for each fit; positive favours B."""

    scheme: str
    differences: np.ndarray
    statistic: float
    p_value: float
    df: tuple[float, ...]
    scoring: str
    f_statistic: float | None = None
    f_p_value: float | None = None
    alpha: float = 0.05

    @property
    def mean_difference(self) -> float:
        return float(self.differences.mean())

    @property
    def verdict(self) -> str:
        sig = "significant" if self.p_value < self.alpha else "not significant"
        extra = f"; combined F = {self.f_statistic:.3g}, p = {self.f_p_value:.3g}" if self.f_statistic is not None else ""
        return (f"{self.scheme}: mean {self.scoring} difference B − A = {self.mean_difference:+.4f}, "
                f"t = {self.statistic:.3g}, p = {self.p_value:.3g} ({sig}){extra}")

    def report(self) -> Report:
        p = self.p_value if self.f_p_value is None else self.f_p_value
        ev = {"scheme": self.scheme, "t": self.statistic, "p_value": self.p_value, "f": self.f_statistic,
              "f_p_value": self.f_p_value, "mean_difference": self.mean_difference,
              "differences": self.differences.tolist()}
        if p >= self.alpha:
            f = Finding("stats.improvement-not-significant", "stats", Severity.MEDIUM,
                        f"Cross-validated {self.scoring} difference is not significant", self.verdict, ev,
                        "The models are indistinguishable across training samples; prefer the simpler one.")
        else:
            f = Finding("stats.cv-difference-significant", "stats", Severity.INFO,
                        f"Cross-validated {self.scoring} difference is significant", self.verdict, ev, "")
        return Report(title=f"Cross-validated comparison ({self.scheme})", findings=[f],
                      metrics={"t": self.statistic, "p_value": self.p_value, "f": self.f_statistic,
                               "f_p_value": self.f_p_value}, summary=self.verdict)


def _diff(est_a: Any, est_b: Any, scorer: Any, X: Any, y: Any, train: np.ndarray, test: np.ndarray) -> float:
    a = clone(est_a).fit(X[train], y[train])
    b = clone(est_b).fit(X[train], y[train])
    return float(scorer(b, X[test], y[test]) - scorer(a, X[test], y[test]))


def _check_scoring(value: Any, name: str) -> None:
    if callable(value):
        return
    if isinstance(value, str):
        try:
            get_scorer(value)
            return
        except ValueError:
            pass
    raise InputError(f"{name} must be a scikit-learn scorer name or a scorer, got {value!r}")


@declare(scheme=Choice(("5x2", "kfold-corrected")), scoring=Check(_check_scoring, good="accuracy", bad=("nope", None, 3)),
         random_state=SEED, n_splits=Int(2), n_repeats=COUNT, alpha=OPEN_UNIT)
def compare_cv(est_a: Any, est_b: Any, X: Any, y: Any, *, scheme: str = "5x2", scoring: str = "accuracy",
               random_state: int | None = 0, n_splits: int = 10, n_repeats: int = 10,
               alpha: float = 0.05) -> CVComparison:
    """Retrain-and-test comparison of two scikit-learn estimators.

    "5x2": Dietterich's 5×2cv paired t-test (t on 5 df from the first fold's difference) and
    Alpaydin's combined F-test (F on 10, 5 df), with splits drawn as mlxtend does for a given random_state.
    "kfold-corrected": ``n_repeats`` × ``n_splits``-fold CV with the Nadeau–Bengio corrected
    resampled t-test, whose variance term (1/J + n_test/n_train) accounts for overlapping
    training sets.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise InputError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    validate.same_length(X=X, y=y)
    if scoring in ("accuracy", "f1", "roc_auc"):
        validate.at_least_two_classes(y, "y")
    scorer = get_scorer(scoring)
    idx = np.arange(len(y))
    if scheme == "5x2":
        rng = np.random.RandomState(random_state)
        d = np.empty((5, 2))
        for i in range(5):
            first, second = train_test_split(idx, test_size=0.5, random_state=rng.randint(low=0, high=32767))
            d[i, 0] = _diff(est_a, est_b, scorer, X, y, first, second)
            d[i, 1] = _diff(est_a, est_b, scorer, X, y, second, first)
        s2 = ((d - d.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        t = d[0, 0] / np.sqrt(s2.mean()) if s2.sum() > 0 else 0.0
        f = (d**2).sum() / (2 * s2.sum()) if s2.sum() > 0 else 0.0
        return CVComparison("5x2cv", d.ravel(), float(t), float(2 * t_dist.sf(abs(t), 5)), (5,), scoring,
                            float(f), float(f_dist.sf(f, 10, 5)), alpha)
    # kfold-corrected
    splits = list(RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state).split(idx))
    d = np.array([_diff(est_a, est_b, scorer, X, y, tr, te) for tr, te in splits])
    J = d.size
    ratio = 1.0 / (n_splits - 1)  # n_test / n_train of k-fold CV
    var = d.var(ddof=1)
    t = d.mean() / np.sqrt((1 / J + ratio) * var) if var > 0 else 0.0
    return CVComparison(f"{n_repeats}x{n_splits}-fold, Nadeau–Bengio corrected", d, float(t),
                        float(2 * t_dist.sf(abs(t), J - 1)), (J - 1,), scoring, alpha=alpha)
