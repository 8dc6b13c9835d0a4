"""`mathguard robustness`: the attack-ensemble evaluation with its pitfall checks, optionally bracketed by certificates."""

from __future__ import annotations

from typing import Any

import click

from mathguard.cli.app import (activity, check_outputs, finish, main, model_file, random_state_option, report_options,
                               severity_option)
from mathguard.cli.budget import budget_option, run_within
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
@budget_option("points")
@random_state_option("the attacks' random starts and searches")
@report_options
@cluster_options
@severity_option("high")
def robustness(model_spec: str, data: str, input_shape: str | None, bounds: str | None, max_samples: int | None,
               trust_pickle: bool, norm: str, eps_text: str, steps: int, bracket: bool, no_checks: bool,
               budget: str | None, random_state: int, html: str | None, json_path: str | None, quiet: bool, scheduler: str | None, workers: int | None,
               fail_on: str) -> None:
    """Evaluate robust accuracy per eps with an attack ensemble and flag evaluation pitfalls."""
    from mathguard.durations import parse_budget
    from mathguard.robustness import evaluate_robustness, robustness_bracket

    seconds = parse_budget(budget)
    check_outputs({"--json": json_path, "--html": html}, [model_file(model_spec), data])
    eps = parse_floats(eps_text, "--eps")
    if not eps:
        raise InputError("--eps needs at least one budget")
    clf, x, y = load_model_and_data(model_spec, data, input_shape, bounds, max_samples, trust_pickle)
    with activity("attacking", quiet), cluster(scheduler, workers) as client:
        def run(k: int) -> Any:
            report = evaluate_robustness(clf, x[:k], y[:k], norm=norm, eps=eps, steps=steps, checks=not no_checks,
                                         client=client, random_state=random_state)
            if bracket:
                report.add_section(robustness_bracket(clf, x[:k], y[:k], norm=norm, eps=eps,
                                                      random_state=random_state))
            return report

        report = run_within(run, len(x), budget=budget, seconds=seconds, what="points", pilot=4,
                            fix="Give a larger --budget, fewer --steps or fewer --eps values to attack every point.")
    finish(report, html, json_path, fail_on, quiet=quiet)
