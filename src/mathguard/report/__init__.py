"""Findings and reports: the one output format of every check."""

from mathguard.report.figure import Figure, new_axes, new_figure
from mathguard.report.finding import LENSES, Finding, Severity
from mathguard.report.report import SCHEMA, Report, write_all, write_atomic
from mathguard.report.table import Table

__all__ = ["Figure", "Finding", "LENSES", "Report", "SCHEMA", "Severity", "Table", "new_axes", "new_figure",
           "write_all", "write_atomic"]
