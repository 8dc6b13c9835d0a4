"""The `mathguard` command group and its error policy.

User mistakes (MathguardError, missing files, bad options) become one line on stderr and
exit code 2; a failing gate is exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from mathguard.errors import MathguardError
from mathguard.report import Report, Severity

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (MathguardError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            click.echo(f"mathguard: error: {msg}", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo("mathguard: cancelled", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mathguard")
def main() -> None:
    """Audit, attack, certify, defend and monitor ML models through their mathematics."""


def severity_option(default: str = "high") -> Any:
    """The --fail-on option shared by every command that gates CI."""
    return click.option(
        "--fail-on",
        type=click.Choice([s.name.lower() for s in Severity] + ["never"], case_sensitive=False),
        default=default,
        show_default=True,
        help="Exit 1 when a finding at or above this severity is present ('never' to disable).",
    )


def finish(report: Report, html: str | None, json_path: str | None, fail_on: str, quiet: bool = False) -> None:
    """Write the requested outputs, print the summary and exit with the gate's code."""
    if json_path:
        report.to_json(json_path)
    if html:
        report.to_html(html)
    if not quiet:
        report.show()
    code = EXIT_OK if fail_on == "never" else report.gate(fail_on)
    sys.exit(code)
