"""The guard's decisions and their tally: per row what was answered and why, and the counts behind its report."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mathguard.guard.logqueue import LogCounts
from mathguard.report import Finding, Report, Severity


@dataclass
class GuardDecision:
    """Per row: the answer, where it came from, and why the model's answer was refused.

    ``labels`` is −1 where nobody answered; ``proba`` holds NaN there. ``source`` is
    "model", "fallback" or "abstain"; ``layer`` names the layer that refused ("" when the
    model answered): "validation", "detector" (a p-value at most the detector's fpr, or a
    score that is not finite), "ensemble" or "model" (the model or a detector failed on
    the row). ``scores`` and ``p_values`` are NaN where a detector did not score the row.
    """

    labels: np.ndarray
    proba: np.ndarray
    abstained: np.ndarray
    source: np.ndarray
    layer: list[str]
    reasons: list[list[str]]
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    p_values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def accepted(self) -> np.ndarray:
        return ~self.abstained


@dataclass
class Tally:
    """What the guard has decided, counted: the figures and findings of ``Guard.report``."""

    rows: int = 0
    refused: Counter = field(default_factory=Counter)  # layer or detector → rows
    reasons: Counter = field(default_factory=Counter)  # (layer, reason with its numbers blanked) → rows
    fallback_answered: int = 0
    fallback_failed: int = 0
    labelled_accepted: int = 0
    correct_accepted: int = 0
    labelled_valid: int = 0  # readable labelled rows: what the bare model would have answered
    correct_unguarded: int = 0
    model_asked: int = 0  # rows that passed validation and went to the model
    model_failed: int = 0  # of those, rows the model (or a detector) failed on
    model_error: str = ""  # the latest such failure, in one line
    scored: Counter = field(default_factory=Counter)  # detector → rows it scored
    not_finite: Counter = field(default_factory=Counter)  # detector → rows it scored NaN or ±inf

    def record(self, dec: GuardDecision, model_proba: np.ndarray, yt: np.ndarray | None,
               refusing: list[list[str]]) -> np.ndarray:
        """Count one batch's decisions; the rows the bare model answered (they are what gets logged)."""
        self.rows += len(dec.labels)
        for lay, names, why in zip(dec.layer, refusing, dec.reasons):
            if lay:
                self.refused[lay] += 1
                for reason in set(reason_kind(r) for r in why):
                    self.reasons[(lay, reason)] += 1
            for name in set(names):
                self.refused[f"detector {name}"] += 1
        answered = ~np.isnan(model_proba).any(axis=1)  # rows the bare model answered
        if yt is not None:
            pred = np.nan_to_num(model_proba).argmax(axis=1)
            self.labelled_accepted += int(dec.accepted.sum())
            self.correct_accepted += int((pred == yt)[dec.accepted].sum())
            self.labelled_valid += int(answered.sum())
            self.correct_unguarded += int((pred == yt)[answered].sum())
        return answered

    def report(self, log: LogCounts) -> Report:
        """What the guard decided so far: abstention per layer and detector, accepted accuracy, failures."""
        t = self
        rep = Report(title="Guard", summary=f"{t.rows} rows decided.")
        if t.rows == 0:
            rep.add(Finding(id="monitor.insufficient-data", lens="monitor", severity=Severity.INFO,
                            title="the guard has decided no rows yet"))
            return rep
        refused = sum(v for key, v in t.refused.items() if not key.startswith("detector "))
        rep.metrics.update({
            "rows": t.rows, "abstention_rate": refused / t.rows,
            "abstention_by_layer": {k: v / t.rows for k, v in t.refused.items()},
            "refusals_by_reason": [{"layer": lay, "reason": why, "rows": n, "share": n / t.rows}
                                   for (lay, why), n in t.reasons.most_common()],
            "fallback_answered": t.fallback_answered, "fallback_failed": t.fallback_failed,
            "accepted_accuracy": t.correct_accepted / t.labelled_accepted if t.labelled_accepted else None,
            "unguarded_accuracy": t.correct_unguarded / t.labelled_valid if t.labelled_valid else None,
            "labelled_accepted": t.labelled_accepted, "model_failed": t.model_failed,
            "monitor_errors": log.errors, "monitor_logged_rows": log.logged_rows,
            "monitor_dropped_rows": log.dropped_rows, "monitor_queued_rows": log.queued_rows,
            "monitor_spooled_batches": log.spooled_batches,
        })
        if t.model_failed:
            every = t.model_failed == t.model_asked
            rep.add(Finding(
                id="monitor.model-failed", lens="monitor", severity=Severity.HIGH if every else Severity.MEDIUM,
                title=(f"the model failed on {'every one' if every else t.model_failed} of the {t.model_asked} "
                       "rows that passed validation; they abstained"),
                detail=t.model_error, evidence={"model_failed": t.model_failed, "model_asked": t.model_asked},
                fix="Run the model on one of these rows outside the guard and fix what it raises (a shape, a dtype, "
                    "NaN or Inf logits)."))
        broken = {name: n for name, n in t.not_finite.items() if n}
        if broken:
            every = all(n == t.scored[name] for name, n in broken.items())
            rep.add(Finding(
                id="monitor.detector-failed", lens="monitor", severity=Severity.HIGH if every else Severity.MEDIUM,
                title="detectors scored rows NaN or ±inf (those rows were refused): " + ", ".join(
                    f"{name} on {n} of {t.scored[name]}" for name, n in broken.items()),
                evidence={"not_finite": broken, "scored": {name: t.scored[name] for name in broken}},
                fix="Score one of these rows with the detector alone and fix what overflows (a singular covariance, "
                    "an input far outside the training data)."))
        if t.fallback_failed:
            rep.add(Finding(id="monitor.fallback-failed", lens="monitor", severity=Severity.HIGH,
                            title=f"the fallback failed on {t.fallback_failed} refused rows; they stayed abstained",
                            fix="Make the fallback total: it must answer every row it is given."))
        if not log.healthy:
            parts = [f"{log.dropped_rows} rows dropped" if log.dropped_rows else "",
                     f"{log.spooled_batches} batches waiting in the client's spool" if log.spooled_batches else "",
                     f"{log.errors} failed calls" if log.errors else ""]
            rep.add(Finding(id="monitor.logging-failed", lens="monitor", severity=Severity.MEDIUM,
                            title="logging to the monitoring service failed: " + ", ".join(p for p in parts if p),
                            detail=log.last_error,
                            evidence={"dropped_rows": log.dropped_rows, "spooled_batches": log.spooled_batches,
                                      "errors": log.errors},
                            fix="Check that the monitoring service is up and reachable; the predictions were not "
                                "affected."))
        return rep


def reason_kind(reason: str) -> str:
    """A refusal reason with its numbers blanked, so rows refused for the same cause count together
    ("energy p=0.0185 ≤ 0.025" and "energy p=0.0031 ≤ 0.025" are both "energy p=# ≤ #")."""
    return re.sub(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|nan|inf", "#", reason)
