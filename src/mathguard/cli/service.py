"""`mathguard models` and `mathguard alerts`: register models and manage alert rules on a running monitor.

Each command is one call of ``mg.monitor.Client`` (``register``, ``models``, ``add_alert``, ``alerts``,
``delete_alert``) against ``--url`` with ``--key`` (or $MATHGUARD_URL / $MATHGUARD_KEY). A refusal
prints the server's reason on one line and exits 2.
"""

from __future__ import annotations

import json
from typing import Any

import click

from mathguard.cli.app import main
from mathguard.cli.serve import monitor_module


def _service(func: Any) -> Any:
    func = click.option("--key", envvar="MATHGUARD_KEY", required=True,
                        help="API key (admin to change, read to list); or $MATHGUARD_KEY.")(func)
    return click.option("--url", envvar="MATHGUARD_URL", required=True,
                        help="The monitor's base URL, e.g. http://127.0.0.1:8800; or $MATHGUARD_URL.")(func)


def _json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print the server's answer as JSON.")(func)


def _client(url: str, key: str, model: str = "-") -> Any:
    return monitor_module("client").Client(url, key, model, retries=0)


def _show(value: Any, as_json: bool) -> bool:
    if as_json:
        click.echo(json.dumps(value, indent=2, sort_keys=True))
    return as_json


@main.group("models")
def models_group() -> None:
    """Register models with the monitoring service and list them."""


@models_group.command("register")
@_service
@click.option("--name", required=True, help="The model's name (letters, digits, . _ -).")
@click.option("--profile", "profile_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The reference profile (JSON written by `mathguard profile --json`).")
@click.option("--label-counts", default=None,
              help="Comma-separated label count per class of the reference (for label drift).")
@_json_option
def register_cmd(url: str, key: str, name: str, profile_path: str, label_counts: str | None, as_json: bool) -> None:
    """Register NAME with its reference profile (admin key)."""
    from mathguard.errors import InputError

    counts = None
    if label_counts:
        try:
            counts = [int(c) for c in label_counts.split(",") if c.strip()]
        except ValueError:
            raise InputError(f"--label-counts must be comma-separated integers, got {label_counts!r}") from None
    client = _client(url, key, name)
    try:
        answer = client.register(profile_path, label_counts=counts)
    finally:
        client._http.close()
    if not _show(answer, as_json):
        click.echo(f"registered {answer['name']}: {answer['n_features']} features, "
                   f"{answer['n_classes'] or 'no'} classes; prediction drift {answer.get('prediction_drift', '')}")


@models_group.command("list")
@_service
@_json_option
def models_list_cmd(url: str, key: str, as_json: bool) -> None:
    """List registered models (read key)."""
    client = _client(url, key)
    try:
        models = client.models()
    finally:
        client._http.close()
    if _show(models, as_json):
        return
    if not models:
        click.echo("no models registered")
    for m in models:
        failed = "  FAILING: " + m["failures"][0]["error"] if m.get("failures") else ""
        click.echo(f"{m['name']:<30} {m['n_features']:>5} features  {m['n_classes'] or '-':>4} classes{failed}")


@main.group("alerts")
def alerts_group() -> None:
    """Add, list and delete alert rules of the monitoring service."""


@alerts_group.command("add")
@_service
@click.option("--model", required=True, help="The registered model the rule watches.")
@click.option("--name", required=True, help="The rule's name (unique per model).")
@click.option("--metric", required=True, help="psi_max, accuracy, condition_number, ... (see the README).")
@click.option("--op", default=">", show_default=True, help=">, >=, < or <=.")
@click.option("--threshold", required=True, type=float)
@click.option("--window", default="1h", show_default=True, help="Span the metric covers (a multiple of the "
              "server's resolution).")
@click.option("--for", "for_", default="0s", show_default=True, help="How long the condition must hold.")
@click.option("--webhook", "webhooks", multiple=True, help="URL POSTed a Finding on each transition (repeatable).")
@_json_option
def alerts_add_cmd(url: str, key: str, model: str, name: str, metric: str, op: str, threshold: float, window: str,
                   for_: str, webhooks: tuple[str, ...], as_json: bool) -> None:
    """Add a rule to MODEL (admin key)."""
    client = _client(url, key, model)
    try:
        rule = client.add_alert(name, metric=metric, op=op, threshold=threshold, window=window, for_=for_,
                                webhooks=list(webhooks))
    finally:
        client._http.close()
    if not _show(rule, as_json):
        click.echo(f"added rule {rule['name']} on {rule['model']}: {rule['metric']} {rule['op']} "
                   f"{rule['threshold']:g} over {rule['window_s']} s, held {rule['for_s']} s")


@alerts_group.command("list")
@_service
@click.option("--model", default=None, help="Only this model's rules (default: every model's).")
@_json_option
def alerts_list_cmd(url: str, key: str, model: str | None, as_json: bool) -> None:
    """List rules with their state (read key; webhook URLs shown in full to admin keys only)."""
    client = _client(url, key)
    try:
        names = [model] if model else [m["name"] for m in client.models()]
        rules = []
        for name in names:
            client.model = name
            rules += client.alerts()
    finally:
        client._http.close()
    if _show(rules, as_json):
        return
    if not rules:
        click.echo("no rules")
    for r in rules:
        value = "–" if r["value"] is None else f"{r['value']:.4g}"
        click.echo(f"{r['model']:<20} {r['name']:<20} {r['metric']} {r['op']} {r['threshold']:g} "
                   f"over {r['window_s']} s  {r['state']:<8} value {value}")


@alerts_group.command("delete")
@_service
@click.option("--model", required=True)
@click.option("--name", required=True)
def alerts_delete_cmd(url: str, key: str, model: str, name: str) -> None:
    """Delete a rule (admin key)."""
    client = _client(url, key, model)
    try:
        client.delete_alert(name)
    finally:
        client._http.close()
    click.echo(f"deleted rule {name} of {model}")
