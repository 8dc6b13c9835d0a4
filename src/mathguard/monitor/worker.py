"""The server's background thread: fold committed batches into windows, refresh drift, alert, purge.

Folding runs apart from the requests, so an ingest answer waits only for its own INSERT;
``backlog`` (events committed but not folded) is what back-pressure watches.
"""

from __future__ import annotations

import logging
import threading
import time

from mathguard.monitor import alerts
from mathguard.monitor.config import Settings
from mathguard.monitor.metrics import Metrics
from mathguard.monitor.store import Store
from mathguard.monitor.windows import fold_pending, refresh_stale

log = logging.getLogger("mathguard.monitor")
REFRESH_S = 10.0


class Worker(threading.Thread):
    """One per server process; ``stop()`` ends it after the current step."""

    def __init__(self, store: Store, settings: Settings, metrics: Metrics) -> None:
        super().__init__(name="mathguard-monitor-worker", daemon=True)
        self.store, self.settings, self.metrics = store, settings, metrics
        self.backlog = store.pending_events()
        self._halt = threading.Event()
        self._last_alerts = self._last_purge = 0.0
        self._refreshed: dict[int, float] = {}  # window id → when its summary was last computed

    def run(self) -> None:
        while not self._halt.wait(self.settings.fold_interval_s):
            try:
                self.step()
            except Exception:  # a failing step is logged and retried next time; the thread must live on
                log.exception("monitor worker step failed")

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def step(self, now: float | None = None) -> None:
        """Fold everything pending, then the periodic duties that are due."""
        now = time.time() if now is None else now
        while (n := fold_pending(self.store, self.settings.resolution_s)):
            self.metrics.folded.inc(n)
        self.backlog = self.store.pending_events()
        # A summary costs ~0.2 s (20 features): a window that keeps gaining events is re-summarised
        # at most every REFRESH_S, so the worker never starves ingest; queries compute what is missing.
        recent = {wid for wid, at in self._refreshed.items() if now - at < REFRESH_S}
        self._refreshed = {wid: self._refreshed[wid] for wid in recent}
        for wid in refresh_stale(self.store, {m.id: m for m in self.store.models()}, self.settings.resolution_s,
                                 limit=2, skip=recent):
            self._refreshed[wid] = now
        if now - self._last_alerts >= self.settings.alert_interval_s:
            self._last_alerts = now
            alerts.evaluate(self.store, resolution=self.settings.resolution_s, now=now,
                            timeout=self.settings.webhook_timeout_s)
        if self.settings.retention_s is not None and now - self._last_purge >= 60:
            self._last_purge = now
            self.store.purge(now - self.settings.retention_s, self.settings.retention_chunk)
