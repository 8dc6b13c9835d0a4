"""`mathguard robustness`: the attack-ensemble evaluation with its pitfall checks, optionally bracketed by certificates."""

from __future__ import annotations

import click

from mathguard.cli.app import activity, check_outputs, finish, main, model_file, report_options, severity_option
from mathguard.cli.cluster import cluster, cluster_options
from mathguard.cli.inputs import load_model_and_data, model_options, parse_floats
from mathguard.errors import InputError


@main.command()
@model_options
@click.option("--norm", type=click.Choice(["linf", "l2"]), default="linf", show_default=True)
@click.option("--eps", "eps_text", default="0.01,0.03,0.1", show_default=True, help="Comma-separated budgets.")
@click.option("--steps", type=int, default=100, show_default=True, help="Iterations of each APGD attack.")
@click.option("--bracket", is_flag=True, help="Add certified accuracy (IBP / Lipschitz) below the attacked accuracy.")
@click.option("--no-checks", is_flag=True, help="Skip the pitfall checks (faster, less trustworthy).")
@report_options
@cluster_options
@severity_option("high")
def robustness(model_spec: str, data: str, input_shape: str | None, bounds: str | None, max_samples: int | None,
               trust_pickle: bool, norm: str, eps_text: str, steps: int, bracket: bool, no_checks: bool,
               html: str | None, json_path: str | None, quiet: bool, scheduler: str | None, workers: int | None,
               fail_on: str) -> None:
    """Evaluate robust accuracy per eps with an attack ensemble and flag evaluation pitfalls."""
    from mathguard.robustness import evaluate_robustness, robustness_bracket

    check_outputs({"--json": json_path, "--html": html}, [model_file(model_spec), data])
    eps = parse_floats(eps_text, "--eps")
    if not eps:
        raise InputError("--eps needs at least one budget")
    clf, x, y = load_model_and_data(model_spec, data, input_shape, bounds, max_samples, trust_pickle)
    with activity("attacking", quiet), cluster(scheduler, workers) as client:
        report = evaluate_robustness(clf, x, y, norm=norm, eps=eps, steps=steps, checks=not no_checks,
                                     client=client)
        if bracket:
            report.add_section(robustness_bracket(clf, x, y, norm=norm, eps=eps))
    finish(report, html, json_path, fail_on, quiet=quiet)
