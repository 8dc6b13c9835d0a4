"""`mathguard serve`: the monitoring service (HTTP API, dashboard, /metrics) on one ASGI process."""

from __future__ import annotations

import click

from mathguard.cli.app import main
from mathguard.errors import InputError, MathguardError


def monitor_module(name: str):  # noqa: ANN201 (returns a module)
    """Import ``mathguard.monitor.<name>``, or say which extra to install."""
    from importlib import import_module

    try:
        return import_module(f"mathguard.monitor.{name}")
    except ModuleNotFoundError as exc:
        raise MathguardError(f"the monitor needs {exc.name!r}: pip install 'mathguard[monitor]'") from None


def _check_port(host: str, port: int) -> None:
    """A port another process holds (or a host this machine lacks) is a usage error, said before anything starts."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            raise InputError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); "
                             "another process holds it, choose another --port") from None


@main.command("serve")
@click.option("--db", default="sqlite:///mathguard.db", show_default=True,
              help="sqlite:///path.db (WAL) or postgresql://user@host/db.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8800, show_default=True, type=click.IntRange(0, 65535))
@click.option("--resolution", default="1h", show_default=True,
              help="Width of the stored window profiles; drift queries use multiples of it.")
@click.option("--retention", default="7d", show_default=True,
              help="Raw events older than this are deleted ('none' keeps them); window profiles stay.")
@click.option("--max-body-mb", default=32, show_default=True, type=click.IntRange(min=1),
              help="Larger request bodies are answered 413.")
@click.option("--max-batch-events", default=100_000, show_default=True, type=click.IntRange(min=1))
@click.option("--max-inflight", default=32, show_default=True, type=click.IntRange(min=1),
              help="Concurrent ingest requests; beyond that 429 with Retry-After.")
@click.option("--max-pending-events", default=2_000_000, show_default=True, type=click.IntRange(min=1),
              help="Committed events waiting to be profiled; beyond that 429 with Retry-After.")
@click.option("--alert-interval", default="10s", show_default=True, help="How often alert rules are evaluated.")
@click.option("--fold-interval", default=0.5, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds between folding committed batches into window profiles.")
@click.option("--max-batch-windows", default=48, show_default=True, type=click.IntRange(min=1),
              help="Windows the events of one batch may fall in; beyond that 422.")
@click.option("--max-models", default=100, show_default=True, type=click.IntRange(min=1),
              help="Models this server holds (bounds the Prometheus labels).")
@click.option("--max-admin-body-mb", default=8, show_default=True, type=click.IntRange(min=1),
              help="Bodies of every request but ingest (registration, rules); beyond that 413.")
@click.option("--body-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds a request body may take to arrive; then 408.")
@click.option("--parse-budget-mb", default=48, show_default=True, type=click.IntRange(min=1),
              help="Ingest bodies decoded at once (decoding costs ~14x a body's size); more wait.")
@click.option("--clock-skew", default="5m", show_default=True,
              help="Event timestamps further in the future are refused.")
@click.option("--retry-after", default=1, show_default=True, type=click.IntRange(min=1),
              help="Seconds put in the Retry-After of 413/429 answers.")
@click.option("--webhook-timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option("--allow-private-webhooks", is_flag=True, default=None,
              help="Admit loopback, private and link-local webhook destinations (default: refused; "
                   "or $MATHGUARD_ALLOW_PRIVATE_WEBHOOKS=1).")
@click.option("--webhook-hosts", default=None,
              help="Comma-separated hosts webhooks may go to ('.example.com' admits its subdomains); "
                   "or $MATHGUARD_WEBHOOK_HOSTS.")
@click.option("--max-linalg-features", default=50, show_default=True, type=click.IntRange(0, 2000),
              help="Features whose cross-product matrix each window keeps (condition number, VIF).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve_cmd(db: str, host: str, port: int, resolution: str, retention: str, max_body_mb: int,
              max_batch_events: int, max_inflight: int, max_pending_events: int, alert_interval: str,
              fold_interval: float, max_batch_windows: int, max_models: int, max_admin_body_mb: int,
              body_timeout: float, parse_budget_mb: int, clock_skew: str, retry_after: int, webhook_timeout: float,
              allow_private_webhooks: bool | None, webhook_hosts: str | None, max_linalg_features: int,
              log_level: str) -> None:
    """Run the monitoring service: ingest prediction logs, watch drift, alert, show a dashboard."""
    config = monitor_module("config")
    app = monitor_module("app")
    import uvicorn

    policy: dict = {}
    if allow_private_webhooks:
        policy["allow_private_webhooks"] = True
    if webhook_hosts is not None:
        policy["webhook_hosts"] = tuple(h.strip().lower() for h in webhook_hosts.split(",") if h.strip())
    settings = config.Settings(
        db=db, resolution_s=config.parse_duration(resolution),
        retention_s=None if retention.lower() == "none" else config.parse_duration(retention),
        max_body_bytes=max_body_mb * 2**20, max_batch_events=max_batch_events, max_inflight=max_inflight,
        max_pending_events=max_pending_events, alert_interval_s=float(config.parse_duration(alert_interval)),
        fold_interval_s=fold_interval, max_batch_windows=max_batch_windows, max_models=max_models,
        max_admin_body_bytes=max_admin_body_mb * 2**20, body_timeout_s=body_timeout,
        parse_budget_bytes=parse_budget_mb * 2**20, clock_skew_s=config.parse_duration(clock_skew, allow_zero=True),
        retry_after_s=retry_after, webhook_timeout_s=webhook_timeout, max_linalg_features=max_linalg_features,
        **policy)
    _check_port(host, port)
    click.echo(f"mathguard monitor on http://{host}:{port}/ ({db})", err=True)
    # Access lines are written at info and debug only: below that uvicorn would still format each request's
    # client and path before the logger drops them. httptools and uvloop are uvicorn's choice when installed.
    uvicorn.run(app.create_app(settings), host=host, port=port, log_level=log_level,
                access_log=log_level in ("debug", "info"))
