"""A/B tests on two independent proportions: z-test, CI, power and sample size."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from mathguard.errors import InputError
from mathguard.report import Finding, Report, Severity
from mathguard.validate import finite, integer
from mathguard.params import COUNT, OPEN_UNIT, declare


def _power(p_a: float, p_b: float, n_a: float, n_b: float, alpha: float) -> float:
    """Power of the two-sided pooled z-test when the true rates are p_a and p_b (normal approximation)."""
    delta = abs(p_b - p_a)
    pbar = (n_a * p_a + n_b * p_b) / (n_a + n_b)
    se0 = np.sqrt(pbar * (1 - pbar) * (1 / n_a + 1 / n_b))
    se1 = np.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    if se1 == 0:
        return 1.0 if delta > 0 else alpha
    z = norm.ppf(1 - alpha / 2)
    return float(norm.cdf((delta - z * se0) / se1) + norm.cdf((-delta - z * se0) / se1))


@declare(alpha=OPEN_UNIT, power=OPEN_UNIT)
def sample_size(p_a: float, min_effect: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Examples per group so the pooled z-test detects p_b = p_a + min_effect with the given power."""
    p_b = p_a + min_effect
    if not (0 < p_a < 1 and 0 < p_b < 1) or min_effect == 0:
        raise InputError(f"need 0 < p_a < 1, 0 < p_a + min_effect < 1 and min_effect ≠ 0; got p_a={p_a}, "
                         f"min_effect={min_effect}")
    za, zb = norm.ppf(1 - alpha / 2), norm.ppf(power)
    pbar = (p_a + p_b) / 2
    n = (za * np.sqrt(2 * pbar * (1 - pbar)) + zb * np.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))) ** 2 / min_effect**2
    return int(np.ceil(n))


@dataclass
class ABTest:
    """Result of comparing conversion rates p_b vs p_a (``diff`` = p_b − p_a)."""

    p_a: float
    p_b: float
    n_a: int
    n_b: int
    diff: float
    z: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    power: float | None
    required_n: int | None
    min_effect: float | None
    warnings: list[Finding] = field(default_factory=list)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        word = "significant" if self.significant else "not significant"
        return (f"B − A = {100 * self.diff:+.2f} pp ({100 * (1 - self.alpha):.0f} % CI {100 * self.ci[0]:+.2f} to "
                f"{100 * self.ci[1]:+.2f} pp), z = {self.z:.3g}, p = {self.p_value:.3g} ({word})")

    def report(self) -> Report:
        ev = {"p_a": self.p_a, "p_b": self.p_b, "n_a": self.n_a, "n_b": self.n_b, "diff": self.diff,
              "z": self.z, "p_value": self.p_value, "ci_low": self.ci[0], "ci_high": self.ci[1],
              "power": self.power, "required_n_per_group": self.required_n}
        main = (Finding("stats.ab-significant", "stats", Severity.INFO, "A/B difference is significant",
                        self.verdict, ev, "") if self.significant else
                Finding("stats.improvement-not-significant", "stats", Severity.MEDIUM,
                        "A/B difference is not significant", self.verdict, ev,
                        "Do not ship on this evidence; collect the planned sample size."))
        return Report(title="A/B test (two proportions)", findings=[main, *self.warnings], metrics=ev,
                      summary=self.verdict)


def _count(value: Any, name: str, low: int, high: int | None = None) -> int:
    """A count given as an int or an integral float (10.0 is ten; 10.5, NaN and ∞ are refused)."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        value = int(value)
    return integer(value, name, low=low, high=high)


@declare(alpha=OPEN_UNIT, power=OPEN_UNIT, looks=COUNT)
def ab_test(successes_a: int, n_a: int, successes_b: int, n_b: int, *, alpha: float = 0.05,
            min_effect: float | None = None, power: float = 0.8, planned_n: int | None = None,
            looks: int = 1) -> ABTest:
    """Two-proportion z-test (pooled SE for the test, unpooled Wald SE for the CI).

    With ``min_effect`` (absolute, e.g. 0.01 = 1 pp) it also reports the power this sample has to
    detect it and the sample size per group needed for ``power``; an underpowered test becomes a
    finding. ``planned_n`` (per group) and ``looks`` (how many times results were checked) flag
    peeking: stopping early or testing repeatedly at level alpha inflates false positives.
    """
    n_a, n_b = (_count(v, name, 1) for name, v in (("n_a", n_a), ("n_b", n_b)))
    successes_a = _count(successes_a, "successes_a", 0, n_a)
    successes_b = _count(successes_b, "successes_b", 0, n_b)
    finite(alpha, "alpha", low=0.0, high=1.0, open_low=True, open_high=True)
    finite(power, "power", low=0.0, high=1.0, open_low=True, open_high=True)
    if min_effect is not None:
        finite(min_effect, "min_effect", low=-1.0, high=1.0)
    integer(looks, "looks")
    pa, pb = successes_a / n_a, successes_b / n_b
    pool = (successes_a + successes_b) / (n_a + n_b)
    se0 = np.sqrt(pool * (1 - pool) * (1 / n_a + 1 / n_b))
    diff = pb - pa
    z = diff / se0 if se0 > 0 else 0.0
    p = float(2 * norm.sf(abs(z)))
    se1 = np.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    zc = norm.ppf(1 - alpha / 2)
    ci = (float(diff - zc * se1), float(diff + zc * se1))
    achieved = required = None
    warnings: list[Finding] = []
    if min_effect is not None:
        base = min(max(pa, 1e-6), 1 - 1e-6)
        target = min(max(base + min_effect, 1e-6), 1 - 1e-6)
        achieved = _power(base, target, n_a, n_b, alpha)
        required = sample_size(base, target - base, alpha=alpha, power=power)
        if achieved < power:
            warnings.append(Finding(
                "stats.ab-underpowered", "stats", Severity.MEDIUM, "A/B test is underpowered",
                f"With {n_a} and {n_b} examples the test has {100 * achieved:.0f} % power to detect "
                f"{100 * min_effect:+.2f} pp; {required} per group are needed for {100 * power:.0f} %.",
                {"power": achieved, "required_n_per_group": required, "min_effect": min_effect},
                "Run the test to the required sample size before reading the result."))
    if looks > 1 or (planned_n is not None and min(n_a, n_b) < planned_n):
        why = (f"results were checked {looks} times at level {alpha}" if looks > 1 else
               f"the test was read at {min(n_a, n_b)} of {planned_n} planned examples per group")
        warnings.append(Finding(
            "stats.ab-peeking", "stats", Severity.MEDIUM, "A/B test was peeked at",
            f"{why}; stopping when p < alpha inflates the false-positive rate above {alpha}.",
            {"looks": looks, "planned_n": planned_n, "n_a": n_a, "n_b": n_b},
            "Fix the sample size in advance, or use a sequential design (alpha spending) for interim looks."))
    return ABTest(pa, pb, int(n_a), int(n_b), float(diff), float(z), p, ci, alpha, achieved, required,
                  min_effect, warnings)
