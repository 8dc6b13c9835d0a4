"""`mathguard demo`: the whole audit on bundled data."""

from __future__ import annotations

from pathlib import Path

import click

from mathguard.cli.app import check_outputs, main
from mathguard.errors import InputError


@main.command()
@click.option("--out", default="mathguard-report", show_default=True, help="Folder for report.html and report.json.")
@click.option("--quick", is_flag=True, help="Fewer epochs and samples (for tests).")
@click.option("--seed", default=0, show_default=True)
def demo(out: str, quick: bool, seed: int) -> None:
    """Run every lens on scikit-learn's digits and breast-cancer data and write one report."""
    from mathguard.demo import run_demo

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for report.html and report.json")
    check_outputs({"--out": str(folder / "report.html")} if folder.is_dir() else {"--out": out})
    report = run_demo(out, quick=quick, seed=seed)
    report.show()
    click.echo(f"report written to {out}/report.html and {out}/report.json")
