"""`mathguard calibration`: ECE/MCE, Brier, NLL and the temperature that would fix it."""

from __future__ import annotations

import click

from mathguard.cli.app import check_outputs, finish, main, report_options, severity_option


@main.command("calibration")
@click.argument("path")
@click.option("--target", default="y", show_default=True, help="Column with the true class labels 0..K-1.")
@click.option("--proba", default=None,
              help="Comma-separated probability columns, one per class in class order (rows sum to 1); "
                   "a single column is P(class 1) of a binary model.")
@click.option("--logits", default=None, help="Comma-separated logit columns, one per class (instead of --proba).")
@click.option("--bins", type=click.IntRange(min=1), default=15, show_default=True, help="Bins for ECE/MCE.")
@click.option("--threshold", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="ECE above which the model is reported over- or underconfident.")
@report_options
@severity_option("high")
def calibration(path: str, target: str, proba: str | None, logits: str | None, bins: int, threshold: float,
                html: str | None, json_path: str | None, quiet: bool, fail_on: str) -> None:
    """Check that the probabilities in PATH (.csv or .parquet, one row per example) mean what they say.

    Findings: overconfident / underconfident (medium; high above 3× --threshold), with the temperature
    that fixes it. Exit 0: nothing at or above --fail-on; 1: such findings; 2: unusable input.
    """
    from scipy.special import softmax

    from mathguard.errors import InputError
    from mathguard.evaluation import calibration as run
    from mathguard.evaluation.table import columns
    from mathguard.io import read_table

    if (proba is None) == (logits is None):
        raise InputError("give exactly one of --proba or --logits")
    check_outputs({"--json": json_path, "--html": html}, [path])
    df = read_table(path)
    y = columns(df, target, "--target")
    if logits is not None:
        z = columns(df, logits, "--logits")
        if z.ndim != 2:
            raise InputError("--logits needs one column per class (at least two)")
        result = run(y, softmax(z, axis=1), n_bins=bins, logits=z, threshold=threshold)
    else:
        result = run(y, columns(df, proba, "--proba"), n_bins=bins, threshold=threshold)
    finish(result.report(), html, json_path, fail_on, quiet=quiet)
