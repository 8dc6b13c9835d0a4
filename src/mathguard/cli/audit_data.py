"""`mathguard audit-data`: the linear-algebra audit of a CSV/Parquet file, gated for CI."""

from __future__ import annotations

import click

from mathguard.cli.app import check_outputs, finish, main, report_options, severity_option
from mathguard.cli.cluster import cluster, cluster_options


@main.command("audit-data")
@click.argument("path")
@click.option("--target", default=None, help="Column holding the label; left out of the features.")
@report_options
@click.option("--chunk-size", default=None, type=click.IntRange(min=1), help="Rows per streamed chunk.")
@click.option("--no-figures", is_flag=True, help="Skip the plots (faster; numbers and findings only).")
@cluster_options
@severity_option("high")
def audit_data(path: str, target: str | None, html: str | None, json_path: str | None, quiet: bool,
               chunk_size: int | None, no_figures: bool, scheduler: str | None, workers: int | None,
               fail_on: str) -> None:
    """Audit the feature matrix in PATH (.csv or .parquet) for rank, conditioning and collinearity.

    Exit 0: nothing at or above --fail-on; 1: such findings; 2: unusable input.
    """
    from mathguard.data import audit_data as run
    from mathguard.partitioned import dask_table

    check_outputs({"--json": json_path, "--html": html}, [path])
    with cluster(scheduler, workers) as client:
        data = path if client is None else dask_table(path)  # on a cluster, workers read the partitions
        report = run(data, y=target, chunk_size=chunk_size, figures=not no_figures and bool(html))
    finish(report, html, json_path, fail_on, quiet=quiet)
