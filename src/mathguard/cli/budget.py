"""`--budget` for the long commands: time two small pilot runs, then run as many points as fit.

One rule for `certify`, `robustness` and `detect`, so a user's `--budget 10m` means the same
everywhere: the pilots' own time counts against the budget, the difference between the two
pilots is the cost of one more point, and what is left of the first pilot is the fixed cost
(model loading, detector fitting) that every run pays. A cut is always a finding.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import click

from mathguard.report import Finding, Report, Severity

Run = Callable[[int], Report]


def budget_option(what: str) -> Callable[[Any], Any]:
    """The --budget option, worded for what gets cut when the budget is short."""
    return click.option("--budget", default=None,
                        help=f"Time budget, e.g. 90s, 10m: two small pilot runs are timed and only as many {what} "
                             "as fit are used (a finding says so).")


def points_within(seconds: float, run: Callable[[int], object], total: int, pilot: int = 1) -> int:
    """How many of ``total`` points fit ``seconds``, from timing ``run(pilot)`` and ``run(2 * pilot)``.

    When the second pilot is no slower than the first (timer noise, or a fixed cost that
    dominates), the per-point cost is taken as the second pilot's mean per point: an
    overestimate, so the budget is kept rather than overrun. At least one point always runs.
    """
    first = min(pilot, total)
    second = min(2 * first, total)
    start = time.perf_counter()
    run(first)
    mid = time.perf_counter()
    if second == first:
        return first
    run(second)
    end = time.perf_counter()
    t_first, t_second = mid - start, end - mid
    slope = (t_second - t_first) / (second - first)
    per_point = slope if slope > 0 else t_second / second
    per_point = max(per_point, 1e-9)
    fixed = max(t_first - first * per_point, 0.0)
    left = seconds - (end - start) - fixed
    return max(1, min(total, int(left / per_point)))


def note_cut(report: Report, *, used: int, given: int, budget: str, seconds: float, what: str, lens: str,
             fix: str) -> None:
    """Add the finding that says only ``used`` of ``given`` points fit the budget (nothing when none were cut)."""
    if used >= given:
        return
    report.add(Finding(
        id=f"{lens}.budget-cut", lens=lens, severity=Severity.INFO,
        title=f"used {used} of {given} {what} to fit --budget {budget}",
        detail=f"Two pilot runs were timed; the figures are those of the first {used} {what} only.",
        evidence={"used": used, "given": given, "budget_s": seconds},
        fix=fix))


def run_within(run: Run, total: int, *, budget: str | None, seconds: float | None, what: str, fix: str,
               pilot: int = 1, lens: str = "adversarial") -> Report:
    """``run(k)`` on as many of ``total`` points as fit ``seconds`` (all without a budget), the cut noted in its report.

    ``seconds`` is ``parse_budget(budget)``, parsed by the caller before it loads anything, so a bad
    ``--budget`` is refused first.
    """
    used = total if seconds is None else points_within(seconds, run, total, pilot=pilot)
    report = run(used)
    note_cut(report, used=used, given=total, budget=str(budget), seconds=seconds or 0.0, what=what, lens=lens,
             fix=fix)
    return report
