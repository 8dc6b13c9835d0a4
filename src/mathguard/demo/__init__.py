"""`mathguard demo`: every lens on bundled data, one report.

Each lens has a section module here (``mathguard.demo.<lens>``) with a function
``demo_section(DemoContext) -> Report``; ``SECTIONS`` lists them in report order. The sections live in
this package, not in the lenses, so that a lens never imports the demo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rich.console import Console

from mathguard.demo import (adversary, attacks, certify, data, detect, drift, evaluation, guard, info, models,
                            robustness, training)
from mathguard.demo.context import DemoContext
from mathguard.report import Report
from mathguard.report.scorecard import scorecard_table, section_row

# The sections, in the order they appear in the report.
SECTIONS: tuple[Callable[[DemoContext], Report], ...] = (
    data.demo_section, models.demo_section, training.demo_section, evaluation.demo_section, info.demo_section,
    drift.demo_section, attacks.demo_section, robustness.demo_section, adversary.demo_section,
    certify.demo_section, detect.demo_section, guard.demo_section,
)


def _headline(section: Report) -> str:
    """The scorecard key: what decided a failing row (its worst finding at the gate); on a passing row its worst
    finding all the same (a finding's title carries its number), else the summary's first sentence."""
    failing = sorted(section.at_or_above("high"), key=lambda f: -f.severity)
    if failing:
        more = f" (+{len(failing) - 1} more at or above high)" if len(failing) > 1 else ""
        return f"{failing[0].id}: {failing[0].title}{more}"
    found = list(section.all_findings())
    if found:
        worst = max(found, key=lambda f: f.severity)  # the first of the worst, in report order
        return f"{worst.id}: {worst.title}"
    return section.summary.split(". ")[0].strip()


def run_demo(out_dir: "str | Path | None" = None, quick: bool = False, random_state: int = 0,
             console: Console | None = None) -> Report:
    """Run every section and write ``report.html`` and ``report.json`` to ``out_dir``."""
    console = console or Console(stderr=True)
    ctx = DemoContext(random_state=random_state, quick=quick)
    report = Report(
        title="mathguard demo",
        summary="All lenses on scikit-learn's bundled digits and breast-cancer data, "
        "with a small CNN trained on the spot.",
    )
    rows = {}
    for run_section in SECTIONS:
        with console.status(f"running {run_section.__module__} …"):
            section = report.add_section(run_section(ctx))
        rows[section.title] = section_row(section, _headline(section), "high")
    report.tables.append(scorecard_table(rows, "high"))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(exist_ok=True)  # the folder the caller named, never its parents
        report.to_html(out / "report.html")
        report.to_json(out / "report.json")
    return report
