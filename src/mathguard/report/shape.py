"""What a renderer reads of a Report, as a protocol: ``Report`` calls the renderers, so they must not import it."""

from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence

from mathguard.report.figure import Figure
from mathguard.report.finding import Finding, Severity
from mathguard.report.table import Table


class ReportShape(Protocol):
    title: str
    summary: str
    findings: list[Finding]
    metrics: dict[str, Any]
    figures: list[Figure]
    tables: list[Table]

    @property
    def sections(self) -> Sequence[ReportShape]: ...

    @property
    def worst(self) -> Severity | None: ...

    def all_findings(self) -> Iterator[Finding]: ...
