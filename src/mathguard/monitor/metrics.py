"""Prometheus exposition: counters of what the API did, gauges of each model's latest window.

Labels are bounded: ``model`` takes at most ``Settings.max_models`` values and
``reason`` / ``outcome`` a fixed handful. Gauges are read from the stored window
summaries at scrape time (one query per model), so they survive restarts; counters are
per process, as Prometheus expects (a restart is a counter reset).
"""

from __future__ import annotations

from typing import Any, Iterator

import orjson
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mathguard.monitor import schema as t
from mathguard.monitor.store import Store
from mathguard.monitor.webhooks import pending_count

REASONS = ("bad_request", "too_large", "busy", "unauthorized", "forbidden", "not_found", "conflict", "timeout",
           "unsupported_media_type", "unavailable")
_SEVERITY = {None: 0, "info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
_GAUGES = {"psi_max": "largest per-feature PSI", "kl_max": "largest per-feature KL(current||reference)",
           "js_max": "largest per-feature Jensen-Shannon divergence", "entropy_mean": "mean prediction entropy (bits)",
           "accuracy": "share of labelled events predicted right", "alarm_rate": "share of guard detector alarms",
           "condition_number": "standardised condition number of the features (1/eps when singular)",
           "vif_max": "largest variance inflation factor", "new_dependencies":
           "near linear dependencies the reference did not have", "ece": "expected calibration error (labelled)",
           "macro_f1": "macro-averaged F1 (labelled)", "label_psi": "PSI of the label distribution vs the reference"}


class _WindowCollector(Collector):
    """Latest window's summary per model, firing alerts, and the fold backlog."""

    def __init__(self, store: Store, resolution: int, owner: "Metrics") -> None:
        self.store, self.resolution, self.owner = store, resolution, owner

    def collect(self) -> Iterator[Any]:
        worker = self.owner.worker
        pairs = worker.failed_pairs() if worker is not None else set()
        failed_gauge = GaugeMetricFamily("mathguard_model_fold_failed",
                                         "1 while the model's folding (or its drift summary or alert rules) fails; "
                                         "see /healthz for the reason.", labels=["model", "stage"])
        worker_up = GaugeMetricFamily("mathguard_worker_up", "1 while the background worker runs and steps.")
        step_age = GaugeMetricFamily("mathguard_worker_last_step_age_seconds",
                                     "Seconds since the background worker last completed a step.")
        if worker is not None:
            health = worker.health()
            worker_up.add_metric([], 1.0 if health["alive"] and not health["stalled"] else 0.0)
            step_age.add_metric([], health["last_step_age_s"])
        yield from (worker_up, step_age)
        gauges = {k: GaugeMetricFamily(f"mathguard_window_{k}", f"Latest window: {h}.", labels=["model"])
                  for k, h in _GAUGES.items()}
        severity = GaugeMetricFamily("mathguard_window_drift_severity",
                                     "Latest window's drift verdict: 0 none, 1 minor, 2 moderate, 3+ major.",
                                     labels=["model"])
        stored = GaugeMetricFamily("mathguard_stored_events", "Raw events held in the database.", labels=["model"])
        firing = GaugeMetricFamily("mathguard_alerts_firing", "Alert rules now firing.", labels=["model"])
        w, b, r = t.windows.c, t.batches.c, t.alert_rules.c
        with self.store.reader.connect() as conn:
            for model in self.store.models():
                for stage in ("fold", "summary", "alerts"):
                    failed_gauge.add_metric([model.name, stage], 1.0 if (model.id, stage) in pairs else 0.0)
                latest = conn.execute(sa.select(w.drift).where(
                    w.model_id == model.id, w.resolution == self.resolution, w.drift.is_not(None))
                    .order_by(w.start.desc()).limit(1)).scalar()
                summary = _loads(latest)
                if summary is not None:
                    for key, gauge in gauges.items():
                        if summary.get(key) is not None:
                            gauge.add_metric([model.name], float(summary[key]))
                    severity.add_metric([model.name], _SEVERITY.get(summary.get("severity"), 0))
                stored.add_metric([model.name], float(conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(b.n_events), 0)).where(b.model_id == model.id)).scalar()))
                firing.add_metric([model.name], float(conn.execute(
                    sa.select(sa.func.count()).where(r.model_id == model.id, r.state == "firing")).scalar()))
        pending = GaugeMetricFamily("mathguard_pending_events", "Committed events not yet folded into windows.",
                                    value=self.store.pending_events())
        outbox = GaugeMetricFamily("mathguard_webhooks_pending", "Webhook deliveries queued or being sent.",
                                   value=pending_count(self.store))
        yield from (*gauges.values(), severity, stored, firing, pending, failed_gauge, outbox)


def _loads(doc: str | None) -> dict[str, Any] | None:
    """A cached summary, or None when there is none or it cannot be read (one bad row spoils no scrape)."""
    if doc is None:
        return None
    try:
        value = orjson.loads(doc)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class Metrics:
    """The registry of one app (not the global one, so several apps can live in one process)."""

    def __init__(self, store: Store, resolution: int) -> None:
        self.worker: Any = None  # set by the app: the folding worker, whose health and failures are exported
        self.registry = CollectorRegistry()
        self.events = Counter("mathguard_events", "Events committed.", ["model"], registry=self.registry)
        self.batches = Counter("mathguard_batches", "Batches acknowledged, by outcome (stored or duplicate).",
                               ["model", "outcome"], registry=self.registry)
        self.rejected = Counter("mathguard_rejected_requests", "Requests refused, by reason.", ["reason"],
                                registry=self.registry)
        self.ingest_seconds = Histogram("mathguard_ingest_seconds", "Time from body received to commit.",
                                        registry=self.registry,
                                        buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        self.folded = Counter("mathguard_folded_events", "Events folded into window profiles.", registry=self.registry)
        for reason in REASONS:
            self.rejected.labels(reason)
        self.registry.register(_WindowCollector(store, resolution, self))
