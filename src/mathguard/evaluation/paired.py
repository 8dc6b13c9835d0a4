"""Is model B really better than model A on the same test examples?

McNemar's test on the discordant pairs for accuracy, a paired bootstrap CI for any
metric, a verdict that separates statistical from practical significance, and Holm's
correction when several models are compared with one baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from scipy.stats import binom, chi2

from mathguard.errors import InputError
from mathguard.evaluation.bootstrap import BootstrapResult, paired_bootstrap
from mathguard.evaluation.metrics import METRIC, get_metric
from mathguard.report import Finding, Report, Severity
from mathguard.validate import as_1d, integer, labels
from mathguard.params import Choice, Int, NON_NEGATIVE, OPEN_UNIT, SEED, declare

MCNEMAR_TESTS = ("exact", "mid-p", "chi2", "auto")
#: Fewer paired examples than this: a bootstrap CI collapses (1 row: "100 pp, CI 100–100"), so no verdict is given.
MIN_EXAMPLES = 30


@dataclass(frozen=True)
class McNemar:
    """McNemar's test: ``b`` = only A right, ``c`` = only B right."""

    b: int
    c: int
    statistic: float
    p_value: float
    test: str


@declare(test=Choice(MCNEMAR_TESTS))
def mcnemar(b: int, c: int, *, test: str = "exact") -> McNemar:
    """Test H0 "A and B err equally often" from the discordant counts.

    "exact": two-sided binomial test on min(b, c) of b + c trials at 1/2; "mid-p": the same
    minus the probability of the observed count (less conservative); "chi2": (|b-c|-1)²/(b+c)
    with continuity correction; "auto": exact below 25 discordant pairs, chi2 from there on.
    """
    b, c = integer(b, "b (only A right)", low=0), integer(c, "c (only B right)", low=0)
    n = b + c
    if test == "auto":
        test = "exact" if n < 25 else "chi2"
    if n == 0:
        return McNemar(b, c, 0.0, 1.0, test)
    k = min(b, c)
    if test == "chi2":
        stat = (abs(b - c) - 1) ** 2 / n if abs(b - c) >= 1 else 0.0
        return McNemar(b, c, float(stat), float(chi2.sf(stat, 1)), test)
    p = 2 * binom.cdf(k, n, 0.5)
    if test == "mid-p":
        p -= binom.pmf(k, n, 0.5)
    return McNemar(b, c, float(k), float(min(1.0, p)), test)


def holm(p_values: Any) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (family-wise error control, any dependence)."""
    p = as_1d(p_values, "p_values", dtype=np.float64)
    if p.min() < 0 or p.max() > 1:
        raise InputError("p_values must lie in [0, 1]")
    order = np.argsort(p)
    m = p.size
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


@dataclass
class Comparison:
    """Outcome of comparing B against A; ``effect`` is metric(B) − metric(A)."""

    metric: str
    higher_is_better: bool
    value_a: float
    value_b: float
    effect: float
    ci: tuple[float, float]
    p_value: float
    test: str
    alpha: float
    min_effect: float
    n: int
    names: tuple[str, str] = ("A", "B")
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def improvement(self) -> float:
        """Signed gain of B over A in the metric's good direction."""
        return self.effect if self.higher_is_better else -self.effect

    @property
    def insufficient(self) -> bool:
        """Too few examples for the bootstrap interval to mean anything (see MIN_EXAMPLES)."""
        return self.n < MIN_EXAMPLES

    @property
    def significant(self) -> bool:
        return not self.insufficient and self.p_value < self.alpha

    @property
    def practical(self) -> bool:
        """The whole CI lies beyond the minimum effect that matters (in the good direction or against)."""
        lo, hi = sorted(self.ci if self.higher_is_better else (-self.ci[0], -self.ci[1]))
        return lo > self.min_effect or hi < -self.min_effect

    @property
    def verdict(self) -> str:
        """One sentence; the numbers quoted are ``effect`` and ``ci`` themselves (B − A), so signs always agree."""
        a, b = self.names
        unit = 100.0 if self.metric in ("accuracy", "f1", "auc") else 1.0
        fmt = (lambda v: f"{v * unit:+.1f} pp") if unit == 100.0 else (lambda v: f"{v:+.4f}")
        direction = "higher" if self.higher_is_better else "lower"
        numbers = (f"{b} − {a} = {fmt(self.effect)} ({round(100 * self.level_of_ci())} % CI {fmt(self.ci[0])} to "
                   f"{fmt(self.ci[1])}; {direction} is better), p = {self.p_value:.3g} ({self.test})")
        if self.insufficient:
            return f"insufficient data: {self.n} examples (need {MIN_EXAMPLES}) to compare {b} with {a}; {numbers}"
        if not self.significant:
            return f"no significant difference between {b} and {a} in {self.metric}: {numbers}"
        better, worse = (b, a) if self.improvement > 0 else (a, b)
        text = f"{better} is better than {worse} by {fmt(abs(self.improvement)).lstrip('+')} in {self.metric}: {numbers}"
        if self.min_effect > 0 and not self.practical:
            text += f"; but the CI does not clear the practical threshold {fmt(self.min_effect).lstrip('+')}"
        return text

    def level_of_ci(self) -> float:
        return float(self.evidence.get("ci_level", 0.95))

    def findings(self) -> list[Finding]:
        """"Not significant", "below practical threshold", "significantly worse" or "significant" findings."""
        a, b = self.names
        ev = {"metric": self.metric, "value_a": self.value_a, "value_b": self.value_b, "effect": self.effect,
              "ci_low": self.ci[0], "ci_high": self.ci[1], "p_value": self.p_value, "test": self.test,
              "alpha": self.alpha, "min_effect": self.min_effect, "n": self.n, **self.evidence}
        if self.insufficient:
            return [Finding("stats.insufficient-data", "stats", Severity.HIGH,
                            f"{b} vs {a}: too few examples ({self.n}) to compare", self.verdict,
                            {**ev, "min_examples": MIN_EXAMPLES},
                            f"Evaluate both models on at least {MIN_EXAMPLES} (better: hundreds of) shared examples.")]
        if not self.significant:
            return [Finding("stats.improvement-not-significant", "stats", Severity.MEDIUM,
                            f"{b} vs {a}: the {self.metric} difference is not significant", self.verdict, ev,
                            "Do not claim an improvement; evaluate on more examples (see the CI width) "
                            "or use compare_cv to average over training randomness.")]
        if self.improvement < 0:
            return [Finding("stats.significantly-worse", "stats", Severity.HIGH,
                            f"{b} is significantly worse than {a} in {self.metric}", self.verdict, ev,
                            f"Keep {a}; investigate what changed in {b}.")]
        if self.min_effect > 0 and not self.practical:
            return [Finding("stats.below-practical-threshold", "stats", Severity.LOW,
                            f"{b} vs {a}: significant but below the practical threshold", self.verdict, ev,
                            "The gain is real but may be too small to matter; weigh it against cost and risk.")]
        return [Finding("stats.significant-improvement", "stats", Severity.INFO,
                        f"{b} improves on {a} in {self.metric}", self.verdict, ev, "")]

    def report(self) -> Report:
        a, b = self.names
        return Report(title=f"Paired comparison: {b} vs {a}", findings=self.findings(),
                      metrics={"effect": self.effect, "ci": list(self.ci), "p_value": self.p_value,
                               "value_a": self.value_a, "value_b": self.value_b, "test": self.test},
                      summary=self.verdict)


@declare(metric=METRIC, test=Choice(MCNEMAR_TESTS), alpha=OPEN_UNIT, min_effect=NON_NEGATIVE,
         n_resamples=Int(100), ci_method=Choice(("bca", "percentile")), random_state=SEED)
def compare(y_true: Any, pred_a: Any, pred_b: Any, *, metric: str = "accuracy", test: str = "exact",
            alpha: float = 0.05, min_effect: float = 0.0, n_resamples: int = 10_000,
            ci_method: str = "bca", random_state: int | None = 0, names: tuple[str, str] = ("A", "B")) -> Comparison:
    """Compare two models evaluated on the same examples.

    For accuracy the p-value is McNemar's (``test``: exact, mid-p, chi2, auto) and the effect
    size includes the discordant odds ratio c/b; for F1, AUC and log loss the p-value comes from
    the paired bootstrap. The CI is always the paired bootstrap interval (``ci_method``).
    Effect sizes: ``effect`` in metric units; for accuracy also the discordant odds ratio and
    Cohen's g = c/(b+c) − 1/2 in ``evidence``.
    ``min_effect`` is the smallest improvement that matters, in metric units (0.01 = 1 pp).
    """
    m = get_metric(metric)
    boot: BootstrapResult = paired_bootstrap(y_true, pred_a, pred_b, metric=m, n_resamples=n_resamples,
                                             alpha=alpha, method=ci_method, random_state=random_state)
    y = labels(y_true)
    evidence: dict[str, Any] = {"ci_level": 1 - alpha, "ci_method": ci_method, "bootstrap_se": boot.se,
                                "n_resamples": n_resamples}
    p_value, test_name = boot.p_value, f"paired bootstrap, {n_resamples} resamples"
    if m.name == "accuracy":
        ra = labels(pred_a, "pred_a") == y
        rb = labels(pred_b, "pred_b") == y
        mc = mcnemar(int(np.sum(ra & ~rb)), int(np.sum(~ra & rb)), test=test)
        p_value, test_name = mc.p_value, f"McNemar {mc.test}"
        disc = mc.b + mc.c
        evidence.update(only_a_right=mc.b, only_b_right=mc.c,
                        discordant_odds_ratio=(mc.c + 0.5) / (mc.b + 0.5),  # Haldane-corrected, finite at 0
                        cohens_g=(mc.c / disc - 0.5) if disc else 0.0)
    return Comparison(m.name, m.higher_is_better, boot.value_a, boot.value_b, boot.estimate, boot.ci,
                      p_value, test_name, alpha, float(min_effect), int(y.size), names, evidence)


@declare(metric=METRIC)
def compare_many(y_true: Any, baseline: Any, candidates: Mapping[str, Any], *, metric: str = "accuracy",
                 baseline_name: str = "baseline", **kwargs: Any) -> Report:
    """Compare several candidates against one baseline, with Holm-adjusted p-values.

    Each interval is computed at the level Holm's step tests that comparison at
    (1 − α/(m − r + 1) for the r-th smallest p-value), so an interval and its verdict
    never contradict each other.
    """
    if not candidates:
        raise InputError("candidates is empty; pass at least one model's predictions")
    alpha = kwargs.pop("alpha", 0.05)
    comps = [compare(y_true, baseline, pred, metric=metric, names=(baseline_name, name), alpha=alpha, **kwargs)
             for name, pred in candidates.items()]
    adjusted = holm([c.p_value for c in comps])
    m = len(comps)
    for rank, i in enumerate(np.argsort([c.p_value for c in comps], kind="stable")):
        step_alpha = alpha / (m - rank)
        if step_alpha < alpha:  # rerun the bootstrap at the Holm step's level for this interval
            wider = compare(y_true, baseline, candidates[comps[i].names[1]], metric=metric, names=comps[i].names,
                            alpha=step_alpha, **kwargs)
            comps[i].ci, comps[i].evidence["ci_level"] = wider.ci, 1 - step_alpha
    report = Report(title=f"{len(comps)} models vs {baseline_name} (Holm-adjusted)",
                    summary="p-values are Holm-adjusted so the chance of any false claim stays below alpha; each "
                            "interval is at the level of its Holm step.")
    for comp, p_adj in zip(comps, adjusted):
        comp.evidence["p_unadjusted"] = comp.p_value
        comp.p_value = float(p_adj)
        comp.test += " + Holm"
        report.add_section(comp.report())
        report.metrics[comp.names[1]] = {"effect": comp.effect, "ci": list(comp.ci), "p_holm": float(p_adj)}
    return report
