"""`mathguard demo`: the whole audit on bundled data."""

from __future__ import annotations

from pathlib import Path

import click

import sys

from mathguard.cli.app import EXIT_OK, check_outputs, main, quiet_option, random_state_option, severity_option
from mathguard.errors import InputError


@main.command()
@click.option("--out", default="mathguard-report", show_default=True, help="Folder for report.html and report.json.")
@click.option("--quick", is_flag=True, help="Fewer epochs and samples (for tests).")
@random_state_option("every random draw in the demo")
@severity_option("never")
@quiet_option
def demo(out: str, quick: bool, random_state: int, fail_on: str, quiet: bool) -> None:
    """Run every lens on scikit-learn's digits and breast-cancer data and write one report."""
    from mathguard.demo import run_demo

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for report.html and report.json")
    check_outputs({"--out": str(folder / "report.html")} if folder.is_dir() else {"--out": out})
    report = run_demo(out, quick=quick, random_state=random_state)
    if not quiet:
        report.show()
        click.echo(f"report written to {out}/report.html and {out}/report.json")
    sys.exit(EXIT_OK if fail_on == "never" else report.gate(fail_on))
