"""Render a Report in the terminal with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mathguard.report.display import fmt_number, is_scalar, metric_rows
from mathguard.report.finding import Severity
from mathguard.report.shape import ReportShape


_STYLE = {
    Severity.INFO: "dim",
    Severity.LOW: "green",
    Severity.MEDIUM: "yellow",
    Severity.HIGH: "bold dark_orange",
    Severity.CRITICAL: "bold red",
}


def _render(report: ReportShape, console: Console, depth: int, max_metrics: int) -> None:
    console.rule(f"[bold]{report.title}", align="left", style="blue" if depth else "bold blue")
    if report.summary:
        console.print(escape(report.summary))
    for grid in report.tables:
        t = Table(*grid.columns, title=escape(grid.title), header_style="bold", expand=True)
        for row in grid.rows:
            t.add_row(*(escape(fmt_number(v) if is_scalar(v) else str(v)) for v in row))
        console.print(t)
    if report.findings:
        table = Table(show_header=True, header_style="bold", expand=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("finding")
        table.add_column("fix")
        for f in sorted(report.findings, key=lambda f: -f.severity):
            table.add_row(f"[{_STYLE[f.severity]}]{f.severity}", f"{escape(f.title)}\n[dim]{escape(f.id)}",
                          escape(f.fix))
        console.print(table)
    rows = metric_rows(report.metrics, max_items=6)[:max_metrics]
    if rows:
        mt = Table(show_header=False, box=None, padding=(0, 1))
        for k, v in rows:
            mt.add_row(f"[cyan]{escape(k)}", escape(v if len(v) < 160 else v[:157] + "…"))
        console.print(mt)
    for s in report.sections:
        _render(s, console, depth + 1, max_metrics)


def render_terminal(report: ReportShape, console: Any = None, max_metrics: int = 12) -> None:
    console = console or Console()
    _render(report, console, 0, max_metrics)
    worst = report.worst
    console.print(f"[bold]worst severity:[/] {worst if worst is not None else 'none'}")
