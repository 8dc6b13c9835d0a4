"""Active learning: spend the labelling budget on the examples the model is least sure about.

Three uncertainty scores from the predicted probabilities: entropy (spread over all
classes), margin (gap between the two most likely classes; small = unsure) and least
confidence (1 − max p). Picking the top-k of any of them tends to pick near-duplicates
of the same confusing example, so ``select_diverse`` takes a larger uncertain pool and
keeps a spread-out subset of it (greedy k-center in feature space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mathguard.errors import InputError
from mathguard.validate import probabilities
from mathguard.info.divergence import entropy
from mathguard.report import Figure, Finding, Report, Severity, new_axes
from mathguard.params import COUNT, Choice, INT_SEED, declare

STRATEGIES = ("entropy", "margin", "least-confident")


def uncertainty(proba: Any, strategy: str = "entropy") -> np.ndarray:
    """Per-row uncertainty (larger = less sure) under one of ``STRATEGIES``."""
    p = probabilities(proba, "proba_pool")
    if strategy == "entropy":
        return np.asarray(entropy(p, base=2), dtype=np.float64).reshape(-1)
    if strategy == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    if strategy == "least-confident":
        return 1.0 - p.max(axis=1)
    raise InputError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def _check_k(k: int, n: int) -> None:
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise InputError(f"k must be an integer between 1 and the pool size {n}, got {k!r}")


@declare(strategy=Choice(STRATEGIES))
def select_uncertain(proba_pool: Any, *, k: int, strategy: str = "entropy") -> np.ndarray:
    """Indices of the ``k`` most uncertain rows, most uncertain first (ties: lower index first)."""
    scores = uncertainty(proba_pool, strategy)
    _check_k(k, len(scores))
    return np.argsort(-scores, kind="stable")[:k]


@declare(strategy=Choice(STRATEGIES), pool_factor=COUNT)
def select_diverse(proba_pool: Any, X_pool: Any, *, k: int, strategy: str = "entropy",
                   pool_factor: int = 10) -> np.ndarray:
    """``k`` uncertain rows that are far apart: the ``pool_factor·k`` most uncertain, thinned by greedy k-center.

    The first pick is the most uncertain row; each next pick is the candidate farthest
    (Euclidean) from everything picked so far.
    """
    scores = uncertainty(proba_pool, strategy)
    X = np.asarray(X_pool, dtype=np.float64)
    if X.ndim == 0 or X.shape[0] != len(scores):
        raise InputError(f"X_pool must have one row per row of proba_pool ({len(scores)})")
    X = X.reshape(len(scores), -1)
    _check_k(k, len(scores))
    cand = np.argsort(-scores, kind="stable")[: min(len(scores), max(k, pool_factor * k))]
    pts = X[cand]
    chosen = [0]
    dist = np.linalg.norm(pts - pts[0], axis=1)
    for _ in range(k - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(pts - pts[nxt], axis=1))
    return cand[np.array(chosen)]


@dataclass
class ActiveLearningCurve:
    """Test accuracy after each labelling round, averaged over repeats, for a strategy and for random picks."""

    labels: np.ndarray
    strategy_accuracy: np.ndarray
    random_accuracy: np.ndarray
    strategy: str

    def labels_to_reach(self, accuracy: float) -> tuple[int | None, int | None]:
        """Labels each side needed to reach ``accuracy`` (None if it never did)."""
        def first(curve: np.ndarray) -> int | None:
            hit = np.flatnonzero(curve >= accuracy)
            return int(self.labels[hit[0]]) if hit.size else None
        return first(self.strategy_accuracy), first(self.random_accuracy)

    def report(self) -> Report:
        target = float(self.random_accuracy[-1])  # what random sampling reaches with the whole budget
        ours, rand = self.labels_to_reach(target)
        report = Report(title=f"Active learning: {self.strategy} sampling against random sampling",
                        metrics={"labels": self.labels.tolist(), "strategy_accuracy": self.strategy_accuracy.tolist(),
                                 "random_accuracy": self.random_accuracy.tolist(), "target_accuracy": target,
                                 "labels_strategy": ours, "labels_random": rand},
                        summary=f"Test accuracy with {self.labels[-1]} labels: {self.strategy_accuracy[-1]:.1%} "
                                f"({self.strategy}) against {self.random_accuracy[-1]:.1%} (random), starting from "
                                f"the same {self.labels[0]} labels.")
        if ours is not None and rand is not None:
            saved = 1 - ours / rand
            report.add(Finding(
                id="info.active-learning", lens="info", severity=Severity.INFO,
                title=f"{self.strategy} sampling reached {target:.1%} accuracy with {ours} labels; random sampling "
                      f"needed {rand} ({saved:.0%} fewer labels)",
                detail="Same initial labels, same batch size and same model; accuracy on a held-out test set, "
                       "averaged over the repeats.",
                evidence={"target_accuracy": target, "labels_strategy": ours, "labels_random": rand,
                          "labels_saved_fraction": saved}))
        report.figures.append(Figure.later(self._draw, "Learning curves", "Test accuracy against the number of "
                                           "labels bought, uncertainty sampling vs random sampling."))
        return report

    def _draw(self) -> Any:
        fig, ax = new_axes(6, 3.4)
        ax.plot(self.labels, self.strategy_accuracy, marker="o", ms=3, label=self.strategy)
        ax.plot(self.labels, self.random_accuracy, marker="o", ms=3, label="random")
        ax.set_xlabel("labelled examples")
        ax.set_ylabel("test accuracy")
        ax.legend()
        return fig


def _initial(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """One example of every class first (so every model sees all classes), the rest at random."""
    classes = np.unique(y)
    if size < len(classes):
        raise InputError(f"initial must be at least the number of classes ({len(classes)}), got {size}")
    first = np.array([rng.choice(np.flatnonzero(y == c)) for c in classes])
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), first))[: size - len(first)]
    return np.concatenate([first, rest])


def _run(estimator: Any, X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, start: np.ndarray,
         batch: int, rounds: int, strategy: str, rng: np.random.Generator) -> list[float]:
    from sklearn.base import clone

    labelled = list(start)
    scores = []
    for r in range(rounds + 1):
        model = clone(estimator).fit(X[labelled], y[labelled])
        scores.append(float(np.mean(model.predict(X_test) == y_test)))
        if r == rounds:
            break
        pool = np.setdiff1d(np.arange(len(y)), labelled)
        if strategy == "random":
            pick = rng.choice(pool, size=batch, replace=False)
        elif strategy == "diverse":
            pick = pool[select_diverse(model.predict_proba(X[pool]), X[pool], k=batch)]
        else:
            pick = pool[select_uncertain(model.predict_proba(X[pool]), k=batch, strategy=strategy)]
        labelled.extend(pick.tolist())
    return scores


@declare(initial=COUNT, batch=COUNT, rounds=COUNT, strategy=Choice((*STRATEGIES, "diverse")), repeats=COUNT,
          random_state=INT_SEED)
def active_learning_curve(estimator: Any, X: Any, y: Any, X_test: Any, y_test: Any, *, initial: int = 20,
                          batch: int = 10, rounds: int = 15, strategy: str = "entropy", repeats: int = 3,
                          random_state: int = 0) -> ActiveLearningCurve:
    """Simulate labelling with an oracle that knows ``y``: the strategy and random sampling, same budgets and seeds.

    ``estimator`` is a scikit-learn classifier with ``predict_proba`` (cloned every round).
    """
    Xa, ya = np.asarray(X, dtype=np.float64), np.asarray(y)
    Xt, yt = np.asarray(X_test, dtype=np.float64), np.asarray(y_test)
    if len(Xa) != len(ya) or len(Xt) != len(yt):
        raise InputError("X and y (and X_test and y_test) must have the same number of rows")
    if initial + batch * rounds > len(ya):
        raise InputError(f"the budget initial + batch·rounds = {initial + batch * rounds} exceeds the pool "
                         f"({len(ya)} rows)")
    curves: dict[str, list[list[float]]] = {strategy: [], "random": []}
    for rep in range(repeats):
        start = _initial(ya, initial, np.random.default_rng(random_state + rep))
        for name in curves:
            rng = np.random.default_rng(random_state + 1000 + rep)
            curves[name].append(_run(estimator, Xa, ya, Xt, yt, start, batch, rounds, name, rng))
    labels = initial + batch * np.arange(rounds + 1)
    return ActiveLearningCurve(labels, np.mean(curves[strategy], axis=0), np.mean(curves["random"], axis=0),
                               strategy)
