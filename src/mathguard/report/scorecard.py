"""The scorecard a report opens with, and the same rows as JUnit test cases for CI."""

from __future__ import annotations

from typing import Any, Mapping
from xml.sax.saxutils import escape, quoteattr

from mathguard.report.lenses import TITLES
from mathguard.report.report import Report
from mathguard.report.table import Table


def scorecard_table(rows: Mapping[str, Mapping[str, Any]], fail_on: str) -> Table:
    """The table a report opens with: one row per lens (keyed by its title), linked to its section."""
    return Table(
        "Scorecard", ("lens", "status", "worst finding", "key number", "pass rule"),
        tuple((title, r["status"], r["worst"] or "—", r["key"], r.get("rule", f"no finding ≥ {fail_on}"))
              for title, r in rows.items()),
        caption=f"status: fail = a finding at or above '{fail_on}'; n/a = the lens does not apply (why is "
                "given); skipped = the budget ran out first.",
        links=tuple(r.get("section") for r in rows.values()))


def section_row(section: Report, key: str, fail_on: str) -> dict[str, Any]:
    """A scorecard row for a finished section: pass or fail at the gate, its worst finding, its key number."""
    failing = [] if fail_on == "never" else section.at_or_above(fail_on)
    worst = section.worst
    return {"status": "fail" if failing else "pass", "worst": None if worst is None else str(worst), "key": key,
            "section": section.title, "failing": [f"{f.severity}: {f.id}: {f.title}" for f in failing]}


def junit_xml(report: Report) -> str:
    """One JUnit test case per scorecard row: failure at the gate, skipped when it does not apply or ran out of
    time. The failure message names the findings that failed it."""
    rows = report.metrics.get("scorecard", {})
    cases = []
    for lens, r in rows.items():
        name = quoteattr(TITLES.get(lens, lens))
        body = ""
        if r["status"] in ("fail", "error"):
            named = r.get("failing") or [f"worst finding: {r['worst']}"]
            body = (f'<failure message={quoteattr("; ".join(named[:3]) + ("; …" if len(named) > 3 else ""))}>'
                    f'{escape(chr(10).join(named))}\n{escape(r["key"])}</failure>')
        elif r["status"] in ("n/a", "skipped"):
            body = f"<skipped message={quoteattr(r['key'])}/>"
        cases.append(f'  <testcase classname="mathguard.audit" name={name}>{body}</testcase>')
    failures = sum(r["status"] in ("fail", "error") for r in rows.values())
    skipped = sum(r["status"] in ("n/a", "skipped") for r in rows.values())
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<testsuite name="mathguard audit" tests="{len(rows)}" failures="{failures}" skipped="{skipped}">\n'
            + "\n".join(cases) + "\n</testsuite>\n")
