"""`mathguard compare`: is model B significantly better than model A on the same examples?"""

from __future__ import annotations

import click

from mathguard.cli.app import check_outputs, finish, main, random_state_option, report_options, severity_option


@main.command("compare")
@click.argument("path")
@click.option("--target", default="y", show_default=True, help="Column with the true class labels 0..K-1.")
@click.option("--a", "col_a", required=True,
              help="Model A's column: predicted label (accuracy, f1), score of class 1 (auc), P(class 1) or a "
                   "comma-separated list of per-class probability columns (log_loss).")
@click.option("--b", "col_b", required=True, help="Model B's column(s), same format as --a.")
@click.option("--metric", type=click.Choice(["accuracy", "f1", "auc", "log_loss"]), default="accuracy",
              show_default=True, help="Metric compared; accuracy uses McNemar, the others the paired bootstrap.")
@click.option("--test", type=click.Choice(["exact", "mid-p", "chi2", "auto"]), default="exact", show_default=True,
              help="McNemar variant (accuracy only).")
@click.option("--min-effect", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Smallest improvement that matters, in metric units (0.01 = 1 pp).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True)
@click.option("--resamples", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="Paired bootstrap resamples for the CI.")
@random_state_option("the bootstrap")
@report_options
@severity_option("high")
def compare(path: str, target: str, col_a: str, col_b: str, metric: str, test: str, min_effect: float, alpha: float,
            resamples: int, random_state: int, html: str | None, json_path: str | None, quiet: bool, fail_on: str) -> None:
    """Compare two models' predictions stored side by side in PATH (.csv or .parquet), one row per example.

    Findings: improvement not significant (medium), significantly worse (high), significant but below
    --min-effect (low). Exit 0: nothing at or above --fail-on; 1: such findings; 2: unusable input.
    """
    from mathguard.evaluation import compare as run
    from mathguard.evaluation.table import columns
    from mathguard.io import read_table

    check_outputs({"--json": json_path, "--html": html}, [path])
    df = read_table(path)
    result = run(columns(df, target, "--target"), columns(df, col_a, "--a"), columns(df, col_b, "--b"), metric=metric,
                 test=test, alpha=alpha, min_effect=min_effect, n_resamples=resamples, random_state=random_state,
                 names=(col_a, col_b))
    finish(result.report(), html, json_path, fail_on, quiet=quiet)
