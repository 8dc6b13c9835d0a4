"""`mathguard certify`: randomized-smoothing certificates for a model on labelled data."""

from __future__ import annotations

import click

from mathguard.cli.app import (activity, check_outputs, finish, main, model_file, random_state_option, report_options,
                               severity_option)
from mathguard.cli.budget import budget_option, run_within
from mathguard.cli.cluster import cluster, cluster_options
from mathguard.cli.inputs import load_model_and_data, model_options


@main.command()
@model_options
@click.option("--sigma", type=float, default=0.25, show_default=True, help="Noise level of the smoothed classifier.")
@click.option("--n0", type=int, default=100, show_default=True, help="Draws to select the top class.")
@click.option("--n", "n_draws", type=int, default=100_000, show_default=True, help="Draws to bound its probability.")
@click.option("--alpha", type=float, default=0.001, show_default=True, help="Failure probability of each certificate.")
@budget_option("points")
@random_state_option("the Gaussian noise draws")
@report_options
@cluster_options
@severity_option("high")
def certify(model_spec: str, data: str, input_shape: str | None, bounds: str | None, max_samples: int | None,
            trust_pickle: bool, sigma: float, n0: int, n_draws: int, alpha: float, budget: str | None, random_state: int,
            html: str | None,
            json_path: str | None, quiet: bool, scheduler: str | None, workers: int | None, fail_on: str) -> None:
    """Certify L2 robustness by randomized smoothing (Cohen et al.) and report certified accuracy per radius."""
    from mathguard.durations import parse_budget
    from mathguard.certify import smoothing

    seconds = parse_budget(budget)
    check_outputs({"--json": json_path, "--html": html}, [model_file(model_spec), data])
    clf, x, y = load_model_and_data(model_spec, data, input_shape, bounds, max_samples, trust_pickle)
    with activity("certifying", quiet):
        with cluster(scheduler, workers) as client:
            report = run_within(
                lambda k: smoothing(clf, x[:k], y[:k], sigma=sigma, n0=n0, n=n_draws, alpha=alpha, client=client,
                                    random_state=random_state).report(),
                len(x), budget=budget, seconds=seconds, what="points",
                fix="Give a larger --budget, fewer --n draws or a faster machine to certify every point.")
    finish(report, html, json_path, fail_on, quiet=quiet)
