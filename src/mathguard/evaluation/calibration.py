"""Is a model right as often as it says it is? ECE/MCE, Brier, NLL, reliability, temperature scaling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from mathguard import validate
from mathguard.errors import InputError
from mathguard.evaluation.metrics import example_nll
from mathguard.report import Figure, Finding, Report, Severity
from mathguard.report.figure import new_figure
from mathguard.params import COUNT, OPEN_UNIT, Choice, declare

STRATEGIES = ("uniform", "quantile")


@dataclass(frozen=True)
class Reliability:
    """Per-bin counts, mean confidence and observed frequency (bins may be empty: count 0)."""

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    frequency: np.ndarray
    strategy: str

    @property
    def ece(self) -> float:
        """Σ_k (n_k / N) |frequency_k − confidence_k|."""
        return float(np.sum(self.count * np.abs(self.frequency - self.confidence)) / self.count.sum())

    @property
    def mce(self) -> float:
        """Largest |frequency − confidence| over non-empty bins."""
        seen = self.count > 0
        return float(np.max(np.abs(self.frequency - self.confidence)[seen]))


@declare(n_bins=COUNT, strategy=Choice(STRATEGIES))
def reliability(hit: Any, confidence: Any, *, n_bins: int = 15, strategy: str = "uniform") -> Reliability:
    """Bin forecasts by confidence: equal-width ("uniform") or equal-mass ("quantile") edges.

    ``hit`` (the outcome, true first as everywhere) says whether each forecast came true.
    The bin rule is scikit-learn's ``calibration_curve``: interior edges, left-closed search.
    """
    hit = np.asarray(hit)
    confidence = np.asarray(confidence, dtype=np.float64)
    if strategy not in STRATEGIES:
        raise InputError(f"unknown binning {strategy!r}; choose 'uniform' (equal-width) or 'quantile' (equal-mass)")
    if int(n_bins) != n_bins or n_bins < 1:
        raise InputError(f"n_bins must be a positive integer, got {n_bins}")
    edges = (np.linspace(0.0, 1.0, n_bins + 1) if strategy == "uniform"
             else np.percentile(confidence, np.linspace(0, 100, n_bins + 1)))
    ids = np.searchsorted(edges[1:-1], confidence)
    count = np.bincount(ids, minlength=n_bins).astype(np.float64)
    safe = np.maximum(count, 1)
    conf = np.bincount(ids, weights=confidence, minlength=n_bins) / safe
    freq = np.bincount(ids, weights=hit.astype(np.float64), minlength=n_bins) / safe
    return Reliability(edges, count, conf, freq, strategy)


@dataclass(frozen=True)
class Temperature:
    """Temperature scaling softmax(z / T), with T fitted by minimising NLL over log T."""

    temperature: float
    nll_before: float
    nll_after: float

    def __float__(self) -> float:
        return self.temperature

    def apply(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities for new logits."""
        z = np.asarray(logits, dtype=np.float64)
        return np.exp(log_softmax(z / self.temperature, axis=1))


def _logits(z: Any, name: str = "logits") -> np.ndarray:
    arr = np.asarray(z, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise InputError(f"{name} must be an (n, K≥2) matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return arr


def _scaled_nll(z: np.ndarray, y: np.ndarray, log_t: float) -> float:
    return float(-np.mean(log_softmax(z * np.exp(-log_t), axis=1)[np.arange(y.size), y]))


def fit_temperature(y_val: Any, logits_val: Any, *, bounds: tuple[float, float] = (0.01, 100.0)) -> Temperature:
    """Fit one temperature on held-out labels and logits.

    NLL is convex in 1/T, hence unimodal in log T, so a bounded Brent search over log T finds
    the optimum and can never return a negative or zero temperature.
    """
    z = _logits(logits_val, "logits_val")
    y = validate.labels(y_val, "y_val", n_classes=z.shape[1])
    validate.same_length(logits_val=z, y_val=y)
    lo, hi = bounds
    if not 0 < lo < hi:
        raise InputError(f"temperature bounds must satisfy 0 < low < high, got {bounds}")
    with np.errstate(over="ignore", invalid="ignore"):
        sharpest = _scaled_nll(z, y, np.log(lo))
    if not np.isfinite(sharpest):
        raise InputError(f"logits up to {np.abs(z).max():.3g} overflow float64 once divided by T = {lo:g}; "
                         "no temperature can be fitted on them (are these logits, or scores scaled by 1e300?)")
    res = minimize_scalar(lambda lt: _scaled_nll(z, y, lt), bounds=(np.log(lo), np.log(hi)), method="bounded",
                          options={"xatol": 1e-7})
    return Temperature(float(np.exp(res.x)), _scaled_nll(z, y, 0.0), float(res.fun))


@dataclass
class Calibration:
    """Calibration summary of probabilistic predictions (top-label unless stated)."""

    n_bins: int
    top_label: dict[str, Reliability]
    classwise_ece: float
    brier: float
    brier_reliability: float
    brier_resolution: float
    brier_uncertainty: float
    nll: float
    accuracy: float
    mean_confidence: float
    temperature: Temperature
    ece_after_temperature: float
    threshold: float

    @property
    def ece(self) -> float:
        """Top-label ECE with equal-width bins."""
        return self.top_label["uniform"].ece

    @property
    def ece_equal_mass(self) -> float:
        return self.top_label["quantile"].ece

    @property
    def mce(self) -> float:
        return self.top_label["uniform"].mce

    def findings(self) -> list[Finding]:
        ev = {"ece": self.ece, "ece_equal_mass": self.ece_equal_mass, "mce": self.mce, "n_bins": self.n_bins,
              "classwise_ece": self.classwise_ece, "brier": self.brier, "nll": self.nll, "accuracy": self.accuracy,
              "mean_confidence": self.mean_confidence, "temperature": self.temperature.temperature,
              "ece_after_temperature": self.ece_after_temperature}
        if self.ece <= self.threshold:
            return [Finding("stats.calibrated", "stats", Severity.INFO, f"Calibrated: ECE {self.ece:.3f}",
                            f"Confidence {self.mean_confidence:.3f} vs accuracy {self.accuracy:.3f}; ECE "
                            f"{self.ece:.3f} (equal-mass {self.ece_equal_mass:.3f}, {self.n_bins} bins).", ev, "")]
        over = self.mean_confidence > self.accuracy
        kind = "overconfident" if over else "underconfident"
        sev = Severity.HIGH if self.ece > 3 * self.threshold else Severity.MEDIUM
        fixes = self.ece_after_temperature <= self.threshold
        return [Finding(
            f"stats.{kind}", "stats", sev,
            f"{kind.capitalize()}: ECE {self.ece:.3f}, temperature {self.temperature.temperature:.2f} "
            f"{'fixes it' if fixes else 'reduces it'}",
            f"Mean confidence {self.mean_confidence:.3f} vs accuracy {self.accuracy:.3f}; top-label ECE "
            f"{self.ece:.3f} (equal-mass {self.ece_equal_mass:.3f}, MCE {self.mce:.3f}, {self.n_bins} bins). "
            f"Temperature T = {self.temperature.temperature:.2f} brings ECE to {self.ece_after_temperature:.3f} "
            f"and NLL from {self.temperature.nll_before:.3f} to {self.temperature.nll_after:.3f} "
            "(fitted on these same data: an optimistic estimate).", ev,
            "Fit mathguard.evaluation.fit_temperature on a held-out validation split and divide the logits by T.")]

    def figure(self, title: str = "Reliability diagram") -> Figure:
        """Reliability diagram (equal-width bins) with per-bin counts."""
        rel, ece, n_bins = self.top_label["uniform"], self.ece, self.n_bins
        return Figure.later(lambda: _draw_reliability(rel, ece, n_bins), title,
                            "Bars below the diagonal: the model is more confident than accurate. "
                            "The lower panel shows how many predictions fall in each bin.")

    def report(self, title: str = "Calibration") -> Report:
        r = Report(title=title, findings=self.findings(), summary=self.findings()[0].title)
        r.metrics.update(ece=self.ece, ece_equal_mass=self.ece_equal_mass, mce=self.mce, n_bins=self.n_bins,
                         classwise_ece=self.classwise_ece, brier=self.brier, nll=self.nll,
                         brier_reliability=self.brier_reliability, brier_resolution=self.brier_resolution,
                         brier_uncertainty=self.brier_uncertainty, temperature=self.temperature.temperature)
        r.figures.append(self.figure())
        return r


def _draw_reliability(rel: Reliability, ece: float, n_bins: int) -> Any:
    fig = new_figure(6.4, 5.6)
    ax, axc = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centers = (rel.edges[:-1] + rel.edges[1:]) / 2
    width = np.diff(rel.edges)
    seen = rel.count > 0
    ax.bar(centers[seen], rel.frequency[seen], width=width[seen] * 0.9, alpha=0.7, label="observed accuracy")
    ax.plot(rel.confidence[seen], rel.frequency[seen], "o-", color="C1", label="accuracy at the bin's mean confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE {ece:.3f} ({n_bins} equal-width bins)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(True, alpha=0.3)
    axc.bar(centers, rel.count, width=width * 0.9, color="gray")
    axc.set_xlabel("confidence (top-label)")
    axc.set_ylabel("count")
    axc.set_yscale("log")
    return fig


def _brier_terms(P: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[float, float, float, float]:
    """Brier score and its binned Murphy decomposition (reliability, resolution, uncertainty).

    Binary: forecasts of class 1 (scikit-learn's ``brier_score_loss``); multi-class: the sum over
    classes (Brier 1950). brier = rel − res + unc exactly when forecasts are constant within bins.
    """
    cols = [1] if P.shape[1] == 2 else range(P.shape[1])
    brier = rel = res = unc = 0.0
    for c in cols:
        hit = (y == c).astype(np.float64)
        brier += float(np.mean((P[:, c] - hit) ** 2))
        b = reliability(hit, P[:, c], n_bins=n_bins)
        w, base = b.count / b.count.sum(), hit.mean()
        rel += float(np.sum(w * (b.confidence - b.frequency) ** 2))
        res += float(np.sum(w * (b.frequency - base) ** 2))
        unc += float(base * (1 - base))
    return brier, rel, res, unc


@declare(n_bins=COUNT, threshold=OPEN_UNIT)
def calibration(y_true: Any, proba: Any, *, n_bins: int = 15, logits: Any = None,
                threshold: float = 0.05) -> Calibration:
    """Calibration of probabilities ``proba`` (n, K) — or P(class 1) for a binary model — against labels.

    Reports top-label ECE with equal-width and equal-mass bins, MCE, class-wise ECE, Brier with
    its decomposition and NLL, and the temperature that minimises NLL on these data (from
    ``logits`` when given, else from log-probabilities, which softmax maps back to ``proba``).
    ``threshold`` is the ECE above which a finding is raised.
    """
    P = validate.probabilities(proba)
    y = validate.labels(y_true, n_classes=P.shape[1])
    validate.same_length(y_true=y, proba=P)
    validate.at_least_two_classes(y)
    pred = P.argmax(axis=1)
    conf, hit = P.max(axis=1), pred == y
    top = {s: reliability(hit, conf, n_bins=n_bins, strategy=s) for s in STRATEGIES}
    classwise = float(np.mean([reliability(y == c, P[:, c], n_bins=n_bins).ece for c in range(P.shape[1])]))
    brier, rel, res, unc = _brier_terms(P, y, n_bins)
    z = _logits(logits) if logits is not None else np.log(np.clip(P, 1e-15, 1.0))
    if z.shape != P.shape:
        raise InputError(f"logits shape {z.shape} does not match proba shape {P.shape}")
    temp = fit_temperature(y, z)
    Pt = temp.apply(z)
    ece_after = reliability(Pt.argmax(axis=1) == y, Pt.max(axis=1), n_bins=n_bins).ece
    return Calibration(int(n_bins), top, classwise, brier, rel, res, unc, float(example_nll(y, P).mean()),
                       float(hit.mean()), float(conf.mean()), temp, ece_after, threshold)
