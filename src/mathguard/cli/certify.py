"""`mathguard certify`: randomized-smoothing certificates for a model on labelled data."""

from __future__ import annotations

import time
from typing import Callable

import click

from mathguard.cli.app import activity, check_outputs, finish, main, model_file, report_options, severity_option
from mathguard.cli.cluster import cluster, cluster_options
from mathguard.cli.inputs import load_model_and_data, model_options
from mathguard.report import Finding, Severity


@main.command()
@model_options
@click.option("--sigma", type=float, default=0.25, show_default=True, help="Noise level of the smoothed classifier.")
@click.option("--n0", type=int, default=100, show_default=True, help="Draws to select the top class.")
@click.option("--n", "n_draws", type=int, default=100_000, show_default=True, help="Draws to bound its probability.")
@click.option("--alpha", type=float, default=0.001, show_default=True, help="Failure probability of each certificate.")
@click.option("--budget", default=None,
              help="Time budget, e.g. 90s, 10m: one point is timed first and only as many points as fit are certified.")
@report_options
@cluster_options
@severity_option("high")
def certify(model_spec: str, data: str, input_shape: str | None, bounds: str | None, max_samples: int | None,
            trust_pickle: bool, sigma: float, n0: int, n_draws: int, alpha: float, budget: str | None, html: str | None,
            json_path: str | None, quiet: bool, scheduler: str | None, workers: int | None, fail_on: str) -> None:
    """Certify L2 robustness by randomized smoothing (Cohen et al.) and report certified accuracy per radius."""
    from mathguard.auditor import parse_duration
    from mathguard.certify import smoothing

    seconds = parse_duration(budget)
    check_outputs({"--json": json_path, "--html": html}, [model_file(model_spec), data])
    clf, x, y = load_model_and_data(model_spec, data, input_shape, bounds, max_samples, trust_pickle)
    with activity("certifying", quiet):
        with cluster(scheduler, workers) as client:
            n_points = len(x) if seconds is None else _points_in(seconds, lambda k: smoothing(
                clf, x[:k], y[:k], sigma=sigma, n0=n0, n=n_draws, alpha=alpha, client=client), len(x))
            report = smoothing(clf, x[:n_points], y[:n_points], sigma=sigma, n0=n0, n=n_draws, alpha=alpha,
                               client=client).report()
    if n_points < len(x):
        report.add(Finding(
            id="adversarial.budget-cut", lens="adversarial", severity=Severity.INFO,
            title=f"certified {n_points} of {len(x)} points to fit --budget {budget}",
            detail="One point was timed first; the certified accuracy is that of the first points only.",
            evidence={"certified": n_points, "given": len(x), "budget_s": seconds},
            fix="Give a larger --budget, fewer --n draws or a faster machine to certify every point."))
    finish(report, html, json_path, fail_on, quiet=quiet)


def _points_in(seconds: float, run: Callable[[int], object], total: int) -> int:
    """How many points fit ``seconds``, from the time ``run(1)`` takes (at least one point)."""
    start = time.perf_counter()
    run(1)
    per_point = max(time.perf_counter() - start, 1e-6)
    return max(1, min(total, int(seconds / per_point)))
