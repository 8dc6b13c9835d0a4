"""`mathguard profile` and `mathguard drift`: store a reference profile, compare production data with it."""

from __future__ import annotations

from typing import Any

import click

from mathguard.cli.app import activity, check_outputs, finish, main, report_options, severity_option
from mathguard.cli.cluster import cluster, cluster_options
from mathguard.errors import InputError
from mathguard.io import kind, read_npz, table_head
from mathguard.partitioned import dask_table


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
        click.option("--target", default=None, help="Label column: left out of the features."),
    ]):
        func = option(func)
    return func


def _is_profile(path: str) -> bool:
    return kind(path) == "json"


def _data(path: str, client: Any) -> Any:
    """A data file as the profiler takes it: an .npz's x flattened to columns x0, x1, ...; a table as its path
    (a file, a folder or a glob), or a Dask DataFrame on a cluster, where each partition is profiled."""
    if kind(path) == "npz":
        import pandas as pd

        x = read_npz(path, ("x",))["x"]
        flat = x.reshape(len(x), -1)
        return pd.DataFrame(flat, columns=[f"x{j}" for j in range(flat.shape[1])])
    return path if client is None else dask_table(path)


def _features(path: str, target: str | None, proba: list[str] | None) -> list[str] | None:
    """The feature columns of a table when a --target is to be left out (None: every column)."""
    if target is None:
        return None
    if kind(path) == "npz":
        raise InputError("--target names a table column; an .npz holds its labels apart (y), they are not profiled")
    columns = [str(c) for c in table_head(path).columns]
    if target not in columns:
        raise InputError(f"--target {target!r} is not a column of {path}; it has {columns[:10]}")
    return [c for c in columns if c != target and c not in (proba or [])]


def _reference(path: str, client: Any, target: str | None, proba: list[str] | None, categorical: list[str],
               chunk_size: int | None) -> Any:
    """The reference side: a stored profile, or the profile of a data file (its label left out)."""
    from mathguard.drift import Profile, profile

    if _is_profile(path):
        return Profile.load(path)
    return profile(_data(path, client), proba, categorical=categorical, chunk_size=chunk_size,
                   columns=_features(path, target, proba))


@main.command("profile")
@click.argument("data")
@click.option("--json", "out", required=True, type=click.Path(dir_okay=False), help="Write the profile (JSON) here.")
@click.option("--sample-size", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Rows kept for the multivariate (domain classifier) test.")
@_common
@cluster_options
def profile_cmd(data: str, out: str, sample_size: int, categorical: str | None, proba_cols: str | None,
                chunk_size: int | None, target: str | None, scheduler: str | None, workers: int | None) -> None:
    """Profile DATA (a CSV or Parquet file, folder or glob, or an .npz's x) in one streaming pass: the drift reference."""
    from mathguard.drift import profile

    check_outputs({"--json": out}, [data])
    proba = _names(proba_cols) or None
    with cluster(scheduler, workers) as client:
        prof = profile(_data(data, client), proba, categorical=_names(categorical), chunk_size=chunk_size,
                       sample_size=sample_size, columns=_features(data, target, proba))
    prof.save(out)
    kinds = [f.kind for f in prof.features.values()]
    click.echo(f"profiled {prof.n_rows} rows: {kinds.count('numeric')} numeric, {kinds.count('categorical')} "
               f"categorical features{', with predictions' if prof.n_classes else ''} → {out}")


@main.command("drift")
@click.argument("reference")
@click.argument("current")
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
              proba_cols: str | None, chunk_size: int | None, target: str | None, fail_on: str, scheduler: str | None,
              workers: int | None) -> None:
    """Compare CURRENT data with REFERENCE (a profile .json from `mathguard profile`, or a data file).

    With --workers or --scheduler, data files are profiled partition by partition on Dask.
    Exit 0: nothing at or above --fail-on; 1: such findings; 2: unusable input.
    """
    from mathguard.drift import Profile, Thresholds, compare

    check_outputs({"--json": json_path, "--html": html}, [reference, current])
    proba = _names(proba_cols) or None
    with cluster(scheduler, workers) as client, activity("comparing", quiet):
        ref = _reference(reference, client, target, proba, _names(categorical), chunk_size)
        cur = Profile.load(current) if _is_profile(current) else _data(current, client)
        report = compare(ref, cur, proba=None if _is_profile(current) else proba,
                         categorical=_names(categorical), chunk_size=chunk_size, multivariate=not no_multivariate,
                         thresholds=Thresholds(alpha=alpha, psi_moderate=psi_moderate, psi_major=psi_major))
    finish(report, html, json_path, fail_on, quiet=quiet)
