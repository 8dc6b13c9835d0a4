"""`mathguard profile` and `mathguard drift`: store a reference profile, compare production data with it."""

from __future__ import annotations

from typing import Any

import click

from mathguard.cli.app import activity, check_outputs, finish, main, report_options, severity_option
from mathguard.cli.cluster import cluster, cluster_options
from mathguard.io import dask_table, kind


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()] if text else []


def _common(func: Any) -> Any:
    """Options shared by both commands: which columns are categorical, which hold probabilities, chunking."""
    for option in reversed([
        click.option("--categorical", default=None,
                     help="Comma-separated columns to treat as categorical (text and boolean columns always are)."),
        click.option("--proba", "proba_cols", default=None,
                     help="Comma-separated columns holding the model's class probabilities (one per class)."),
        click.option("--chunk-size", default=None, type=click.IntRange(min=1), help="Rows per streamed chunk."),
    ]):
        func = option(func)
    return func


def _is_profile(path: str) -> bool:
    return kind(path) == "json"


def _side(path: str, client: Any) -> Any:
    """One side of a comparison: a stored profile, or the data file (a Dask DataFrame on a cluster)."""
    from mathguard.drift import Profile

    if _is_profile(path):
        return Profile.load(path)
    return path if client is None else dask_table(path)  # on a cluster each partition is profiled there


@main.command("profile")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Write the profile (JSON) here.")
@click.option("--sample-size", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Rows kept for the multivariate (domain classifier) test.")
@_common
@cluster_options
def profile_cmd(data: str, out: str, sample_size: int, categorical: str | None, proba_cols: str | None,
                chunk_size: int | None, scheduler: str | None, workers: int | None) -> None:
    """Profile DATA (.csv or .parquet) in one streaming pass and save it as the drift reference."""
    from mathguard.drift import profile

    check_outputs({"--out": out}, [data])
    with cluster(scheduler, workers) as client:
        source = data if client is None else dask_table(data)  # on a cluster, each partition is profiled there
        prof = profile(source, _names(proba_cols) or None, categorical=_names(categorical), chunk_size=chunk_size,
                       sample_size=sample_size)
    prof.save(out)
    kinds = [f.kind for f in prof.features.values()]
    click.echo(f"profiled {prof.n_rows} rows: {kinds.count('numeric')} numeric, {kinds.count('categorical')} "
               f"categorical features{', with predictions' if prof.n_classes else ''} → {out}")


@main.command("drift")
@click.argument("reference", type=click.Path(dir_okay=False))
@click.argument("current", type=click.Path(dir_okay=False))
@report_options
@click.option("--psi-moderate", default=0.1, show_default=True, type=click.FloatRange(min=0),
              help="PSI from which a drifted feature is a medium finding.")
@click.option("--psi-major", default=0.25, show_default=True, type=click.FloatRange(min=0),
              help="PSI from which a drifted feature is a high finding.")
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Family-wise significance level of the per-feature tests (Holm).")
@click.option("--no-multivariate", is_flag=True, help="Skip the reference-vs-current classifier.")
@_common
@severity_option("high")
@cluster_options
def drift_cmd(reference: str, current: str, html: str | None, json_path: str | None, quiet: bool,
              psi_moderate: float, psi_major: float, alpha: float, no_multivariate: bool, categorical: str | None,
              proba_cols: str | None, chunk_size: int | None, fail_on: str, scheduler: str | None,
              workers: int | None) -> None:
    """Compare CURRENT data with REFERENCE (a profile .json from `mathguard profile`, or a data file).

    With --workers or --scheduler, data files are profiled partition by partition on Dask.
    Exit 0: nothing at or above --fail-on; 1: such findings; 2: unusable input.
    """
    from mathguard.drift import Thresholds, compare

    check_outputs({"--json": json_path, "--html": html}, [reference, current])
    proba = _names(proba_cols) or None
    with cluster(scheduler, workers) as client, activity("comparing", quiet):
        report = compare(_side(reference, client), _side(current, client), proba=None if _is_profile(current) else proba,
                         reference_proba=None if _is_profile(reference) else proba,
                         categorical=_names(categorical), chunk_size=chunk_size, multivariate=not no_multivariate,
                         thresholds=Thresholds(alpha=alpha, psi_moderate=psi_moderate, psi_major=psi_major))
    finish(report, html, json_path, fail_on, quiet=quiet)
