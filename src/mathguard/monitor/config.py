"""Service settings: one frozen object, so the app, the worker and the CLI read the same limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mathguard import durations
from mathguard.errors import InputError
from mathguard.params import COUNT, POSITIVE, Int, Optional, declare_fields

MAX_DURATION = 366 * 86400  # rule windows and hold times beyond a year are refused (and fit any integer column)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_hosts() -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in os.environ.get("MATHGUARD_WEBHOOK_HOSTS", "").split(",") if h.strip())


def parse_duration(text: str | int | float, *, allow_zero: bool = False, maximum: int | None = None) -> int:
    """Whole seconds in a duration ('90s', '5m', '1h', '30d', or a number): the service stores integers."""
    return int(durations.parse_duration(text, allow_zero=allow_zero, maximum=maximum, whole=True))


def engine_url(db: str) -> str:
    """The SQLAlchemy URL of ``db``: a plain postgresql:// URL gets the psycopg (3) driver."""
    for prefix in ("postgresql://", "postgres://"):
        if db.startswith(prefix):
            return "postgresql+psycopg://" + db[len(prefix):]
    if not (db.startswith("sqlite://") or db.startswith("postgresql+")):
        raise InputError(f"unsupported database URL {db!r}; use sqlite:///path.db or postgresql://user@host/db")
    return db


@declare_fields(resolution_s=COUNT, max_body_bytes=COUNT, max_batch_events=COUNT, max_inflight=COUNT,
                max_pending_events=COUNT, retry_after_s=Int(0), retention_s=Optional(COUNT), retention_chunk=COUNT,
                fold_interval_s=POSITIVE, alert_interval_s=POSITIVE, clock_skew_s=Int(0), webhook_timeout_s=POSITIVE,
                max_models=COUNT, max_batch_windows=COUNT, max_admin_body_bytes=COUNT, body_timeout_s=POSITIVE,
                parse_budget_bytes=COUNT, max_linalg_features=Int(0, 2000))
@dataclass(frozen=True)
class Settings:
    """Limits and intervals of one server; every number is a ``mathguard serve`` option."""

    db: str = "sqlite:///mathguard.db"
    resolution_s: int = 3600  # width of the stored window profiles; queried windows are multiples of it
    max_body_bytes: int = 32 * 2**20  # larger request bodies get 413
    max_batch_events: int = 100_000  # more events in one batch get 413
    max_inflight: int = 32  # ingest requests being parsed or written at once; beyond that 429
    max_pending_events: int = 2_000_000  # committed events not yet folded into windows; beyond that 429
    retry_after_s: int = 1  # what 429 answers put in Retry-After
    retention_s: int | None = 7 * 86400  # raw events older than this are deleted (window profiles stay)
    retention_chunk: int = 500  # batches deleted per statement, so a purge never holds a long lock
    fold_interval_s: float = 0.5  # how often committed batches are folded into window profiles
    alert_interval_s: float = 10.0  # how often alert rules are evaluated
    clock_skew_s: int = 300  # event timestamps further in the future are rejected
    webhook_timeout_s: float = 5.0
    max_models: int = 100  # bounds the `model` label of the Prometheus metrics
    max_batch_windows: int = 48  # windows (of resolution_s) the events of one batch may fall in; beyond that 422
    max_admin_body_bytes: int = 8 * 2**20  # bodies of every request but ingest (registration, rules); beyond 413
    body_timeout_s: float = 30.0  # a request body not received in full by then is answered 408
    # Ingest bodies being decoded at once, in bytes: decoding costs ~14x a body's size for a moment (orjson's
    # worst-case pool), so 48 MiB of bodies means at most ~0.7 GB; a larger body waits until it is alone.
    parse_budget_bytes: int = 48 * 2**20
    # Features whose cross-product matrix each window keeps (condition number, VIF, near dependencies); a model
    # with more features gets these for its first ones, and the summary says so. p^2 floats per window.
    max_linalg_features: int = 50
    # Webhook destinations: loopback, private, link-local and reserved addresses are refused unless allowed;
    # a non-empty host list admits only those hosts ('.example.com' admits its subdomains).
    allow_private_webhooks: bool = field(default_factory=lambda: _env_flag("MATHGUARD_ALLOW_PRIVATE_WEBHOOKS"))
    webhook_hosts: tuple[str, ...] = field(default_factory=_env_hosts)

    def __post_init__(self) -> None:
        engine_url(self.db)
