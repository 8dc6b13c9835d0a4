"""A Report: findings, metrics and figures, possibly grouped in titled sections."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from mathguard.errors import InputError
from mathguard.report.figure import Figure
from mathguard.report.finding import Finding, Severity
from mathguard.report.html import render_html
from mathguard.report.jsonable import jsonable
from mathguard.report.table import Table

SCHEMA = "mathguard.report/1"


@dataclass
class Report:
    """What a check (or a whole audit) found.

    ``metrics`` holds the numbers a user may want to read programmatically
    (``report.metrics['vif']``); ``sections`` nest reports of sub-checks, so one demo
    report holds every lens while each lens can still be used alone.
    """

    title: str
    findings: list[Finding] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    sections: list["Report"] = field(default_factory=list)
    summary: str = ""
    tables: list[Table] = field(default_factory=list)

    # ------------------------------------------------------------------ building
    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def add_section(self, section: "Report") -> "Report":
        self.sections.append(section)
        return section

    # ------------------------------------------------------------------ reading
    def all_findings(self) -> Iterator[Finding]:
        """Findings of this report and of every nested section."""
        yield from self.findings
        for s in self.sections:
            yield from s.all_findings()

    @property
    def worst(self) -> Severity | None:
        """Highest severity present anywhere in the report, or None if there are no findings."""
        return max((f.severity for f in self.all_findings()), default=None)

    def at_or_above(self, severity: "str | Severity") -> list[Finding]:
        level = Severity.parse(severity)
        return [f for f in self.all_findings() if f.severity >= level]

    def gate(self, fail_on: "str | Severity") -> int:
        """CI exit code: 1 if any finding is at or above ``fail_on``, else 0."""
        return 1 if self.at_or_above(fail_on) else 0

    def section(self, title: str) -> "Report":
        for s in self.sections:
            if s.title == title:
                return s
        raise KeyError(f"no section titled {title!r}; have {[s.title for s in self.sections]}")

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "summary": self.summary,
            "worst": str(self.worst) if self.worst is not None else None,
            "findings": [f.to_dict() for f in self.findings],
            "metrics": jsonable(self.metrics),
            "figures": [{"title": f.title, "caption": f.caption} for f in self.figures],
            "tables": [t.to_dict() for t in self.tables],
            "sections": [s.to_dict() for s in self.sections],
        }

    def to_json(self, path: "str | os.PathLike[str] | None" = None) -> str:
        """Serialise to the versioned JSON schema; write atomically when a path is given."""
        doc = {
            "schema": SCHEMA,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "report": self.to_dict(),
        }
        text = json.dumps(doc, indent=2, allow_nan=False)
        if path is not None:
            write_atomic(path, text)
        return text

    def to_html(self, path: "str | os.PathLike[str] | None" = None) -> str:
        """One self-contained HTML file: inline CSS and PNG plots, no network needed."""
        text = render_html(self)
        if path is not None:
            write_atomic(path, text)
        return text

    def show(self, console: Any = None) -> None:
        """Print a rich terminal summary (rich is imported here, so that only showing a report loads it)."""
        from mathguard.report.terminal import render_terminal

        render_terminal(self, console)


def write_atomic(path: "str | os.PathLike[str]", text: str) -> None:
    """Write via a temporary file and rename, so a failure never leaves a partial file."""
    write_all({path: text})


def write_all(texts: "Mapping[str | os.PathLike[str], str]") -> None:
    """Write several files all or nothing: every text reaches a temporary file before any is renamed into place.

    No directory is created: a missing one is an InputError (a typo should not grow a tree).
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for path, text in texts.items():
            target = Path(path)
            temps.append((_temporary_copy(target, text), target))
        for tmp, target in temps:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise


def _temporary_copy(target: Path, text: str) -> Path:
    if not target.parent.is_dir():
        raise InputError(f"directory {target.parent} does not exist (mathguard does not create it): {target}")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's private 0600 would surprise whoever serves the report
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)
