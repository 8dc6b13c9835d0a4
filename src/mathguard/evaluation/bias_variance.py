"""Where does the error come from? Bias–variance decomposition by bootstrap retraining."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from mathguard import validate
from mathguard.errors import InputError
from mathguard.report import Figure, Finding, Report, Severity
from mathguard.report.figure import new_axes
from mathguard.params import Choice, Int, OPEN_UNIT, SEED, declare

LOSSES = ("0-1", "mse")


@dataclass(frozen=True)
class BiasVariance:
    """Average expected loss = bias (+ variance, exactly for MSE; Domingos' decomposition for 0-1)."""

    loss: str
    expected_loss: float
    bias: float
    variance: float
    noise: float | None
    rounds: int

    def findings(self, variance_share: float = 0.5) -> list[Finding]:
        """"High variance" when variance is at least ``variance_share`` of the expected loss."""
        ev = {"loss": self.loss, "expected_loss": self.expected_loss, "bias": self.bias,
              "variance": self.variance, "noise": self.noise, "rounds": self.rounds}
        share = self.variance / self.expected_loss if self.expected_loss > 0 else 0.0
        if share >= variance_share:
            return [Finding("stats.high-variance", "stats", Severity.MEDIUM,
                            f"High variance: {100 * share:.0f} % of the expected loss",
                            f"Retraining on bootstrap samples changes predictions a lot: variance {self.variance:.4f} "
                            f"vs bias {self.bias:.4f} ({self.loss} loss, {self.rounds} rounds).", ev,
                            "Regularise (smaller model, stronger penalty, early stopping), bag, or add data.")]
        return [Finding("stats.bias-dominated", "stats", Severity.INFO,
                        f"Error is bias-dominated ({100 * (1 - share):.0f} % not variance)",
                        f"bias {self.bias:.4f}, variance {self.variance:.4f} ({self.loss} loss).", ev,
                        "A more flexible model or better features may help; more data alone will not.")]

    def report(self, variance_share: float = 0.5) -> Report:
        """The decomposition as a Report: the numbers, and whether variance dominates."""
        found = self.findings(variance_share)
        return Report(title=f"Bias–variance decomposition ({self.loss} loss)", findings=found,
                      summary=found[0].title,
                      metrics={"expected_loss": self.expected_loss, "bias": self.bias, "variance": self.variance,
                               "noise": self.noise, "rounds": self.rounds, "loss": self.loss})


def _predictions(make_estimator: Callable[[], Any], X_train: np.ndarray, y_train: np.ndarray,
                 X_test: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    out = []
    n = len(y_train)
    for _ in range(rounds):
        idx = rng.integers(0, n, n)
        out.append(np.asarray(make_estimator().fit(X_train[idx], y_train[idx]).predict(X_test)))
    return np.stack(out)


def decompose(preds: np.ndarray, y_test: np.ndarray, loss: str, f_test: np.ndarray | None = None) -> BiasVariance:
    """Decompose a (rounds, n_test) prediction matrix.

    "mse": main prediction = mean; bias² = mean (main − f)², variance = mean (pred − main)²,
    noise = mean (y − f)² when the noiseless target ``f_test`` is known (else f = y, noise folded
    into bias). "0-1" (Domingos 2000): main prediction = mode; bias = P(main ≠ y); variance =
    mean P(pred ≠ main). For 0-1 loss the parts are not additive: variance raises the loss where
    the main prediction is right and lowers it where it is wrong.
    """
    if loss == "mse":
        main = preds.mean(axis=0)
        target = y_test if f_test is None else f_test
        noise = None if f_test is None else float(np.mean((y_test - f_test) ** 2))
        return BiasVariance(loss, float(np.mean((preds - y_test) ** 2)), float(np.mean((main - target) ** 2)),
                            float(np.mean((preds - main) ** 2)), noise, preds.shape[0])
    p = preds.astype(np.int64)
    counts = np.apply_along_axis(np.bincount, 0, p, minlength=int(p.max()) + 1)
    main = counts.argmax(axis=0)
    return BiasVariance(loss, float(np.mean(p != y_test)), float(np.mean(main != y_test)),
                        float(np.mean(p != main)), None, preds.shape[0])


@declare(loss=Choice(LOSSES), rounds=Int(2), test_size=OPEN_UNIT, random_state=SEED)
def bias_variance(make_estimator: Callable[[], Any], X: Any, y: Any, *, loss: str = "0-1", rounds: int = 50,
                  test_size: float = 0.3, X_test: Any = None, y_test: Any = None, f_test: Any = None,
                  random_state: int | None = 0) -> BiasVariance:
    """Retrain ``make_estimator()`` on ``rounds`` bootstrap samples and decompose its test error.

    Without ``X_test``/``y_test`` a ``test_size`` fraction of (X, y) is held out. ``f_test`` is
    the noiseless regression target on the test points, when known, to separate noise.
    """
    if not callable(make_estimator):
        raise InputError("make_estimator must be a callable returning a fresh unfitted estimator")
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64 if loss == "mse" else None)
    validate.same_length(X=X, y=y)
    if X_test is None:
        from sklearn.model_selection import train_test_split

        X, X_test, y, y_test = train_test_split(X, y, test_size=test_size, random_state=random_state)
    else:
        X_test, y_test = np.asarray(X_test), np.asarray(y_test)
        validate.same_length(X_test=X_test, y_test=y_test)
    if loss == "0-1":
        y, y_test = validate.labels(y, "y"), validate.labels(y_test, "y_test")
    f = None if f_test is None else validate.as_1d(f_test, "f_test", dtype=np.float64)
    preds = _predictions(make_estimator, X, y, X_test, rounds, np.random.default_rng(random_state))
    return decompose(preds, y_test, loss, f)


def bias_variance_curve(make_estimator: Callable[[Any], Any], params: Sequence[Any], X: Any, y: Any, *,
                        param_name: str = "complexity", **kwargs: Any) -> Report:
    """Decompose the error for each value of a complexity parameter and plot the U-shaped curve."""
    if len(params) < 2:
        raise InputError("params needs at least two values to draw a curve")
    results = [bias_variance(lambda p=p: make_estimator(p), X, y, **kwargs) for p in params]
    losses = np.array([r.expected_loss for r in results])
    best = int(np.argmin(losses))
    bias, variance = [r.bias for r in results], [r.variance for r in results]
    report = Report(title=f"Bias–variance across {param_name}",
                    summary=f"Lowest expected loss {losses[best]:.4f} at {param_name} = {params[best]}.",
                    metrics={"params": list(params), "expected_loss": losses.tolist(),
                             "bias": bias, "variance": variance, "best": params[best]})
    curves = {"expected loss": losses.tolist(), "bias": bias, "variance": variance}
    labels, ylabel = [str(p) for p in params], f"{results[0].loss} loss"
    report.figures.append(Figure.later(
        lambda: _draw_curve(curves, labels, best, param_name, ylabel), "Bias–variance curve",
        "Bias falls and variance rises with complexity; pick the minimum of the total."))
    report.findings.extend(results[best].findings())
    return report


def _draw_curve(curves: dict[str, list[float]], labels: list[str], best: int, xlabel: str, ylabel: str) -> Any:
    fig, ax = new_axes()
    xs = np.arange(len(labels))
    for (name, values), style in zip(curves.items(), ("o-", "s--", "^--")):
        ax.plot(xs, values, style, label=name)
    ax.axvline(best, color="gray", lw=1, ls=":")
    ax.set_xticks(xs, labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig
