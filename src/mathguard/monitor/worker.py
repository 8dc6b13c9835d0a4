"""The server's background thread: fold committed batches into windows, refresh drift, alert, purge.

Folding runs apart from the requests, so an ingest answer waits only for its own INSERT;
``backlog`` (events committed but not folded, failed models left out) is what
back-pressure watches.

Each model is folded in its own transaction, and every duty of a step runs on its own:
a model whose folding (or drift summary, or alert rule) fails is recorded in ``failures``
(reported by ``/healthz``, ``/metrics`` and the dashboard), its folding stops, and every
other model and duty carries on. A failed model is tried again after a back-off (1 min,
doubling to 1 h), so a passing fault heals itself; ``health()`` says how the thread is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from mathguard.drift import Profile
from mathguard.drift.accumulators import NumericFeature
from mathguard.monitor import alerts
from mathguard.monitor.config import Settings
from mathguard.monitor.metrics import Metrics
from mathguard.monitor.store import Model, Store
from mathguard.monitor.series import refresh_stale
from mathguard.monitor.windows import fold_pending

log = logging.getLogger("mathguard.monitor")
REFRESH_S = 10.0
RETRY_S, MAX_RETRY_S = 60.0, 3600.0


def one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


@dataclass
class Failure:
    """Why and since when a model's processing fails; ``stage`` is fold, summary or alerts."""

    model: str
    stage: str
    error: str
    since: float
    retry_at: float
    tries: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "stage": self.stage, "error": self.error, "since": self.since,
                "retry_at": self.retry_at, "tries": self.tries}


class WindowCache:
    """The profiles of the windows this worker wrote lately, as merged in memory, so that the next fold of a window
    merges into the object instead of parsing the row's document again (about 3 ms unloaded for 20 features of
    650 buckets, and the fold's sketches are cut at its levels: windows.fold_model). Used by the worker's thread
    alone. An entry serves only the row it was written to, as written: same row id, model (and its registration
    time: a model deleted and registered again may get the same ids back), resolution and start,
    same event count (a fold by another process raises it), same quality and moments documents; an entry that no
    longer matches is dropped. The least recently used go first, beyond ``entries`` windows or ``max_bytes`` of
    sketch arrays. Merging and summarising never change a profile (tests/monitor/test_fold_cache.py), so an entry
    stays as written."""

    def __init__(self, entries: int = 64, max_bytes: int = 64 << 20) -> None:
        self.entries, self.max_bytes = entries, max_bytes
        self._items: OrderedDict[int, tuple[tuple[Any, ...], Profile, int]] = OrderedDict()  # id: key, profile, size
        self._bytes = 0

    @staticmethod
    def _key(model: Any, row: Any) -> tuple[Any, ...]:
        return (model.created_at, row.model_id, row.resolution, row.start, row.n_events, row.quality, row.moments)

    def get(self, model: Any, row: Any) -> Profile | None:
        """The profile stored in ``row`` (id, model_id, resolution, start, n_events, quality, moments), or None."""
        item = self._items.get(row.id)
        if item is None:
            return None
        if item[0] != self._key(model, row):
            self.drop(row.id)
            return None
        self._items.move_to_end(row.id)
        return item[1]

    def put(self, model: Any, row: Any, prof: Profile) -> None:
        """Remember ``prof`` as the profile just committed in ``row``."""
        self.drop(row.id)
        size = sum(f.sketch.keys.nbytes + f.sketch.counts.nbytes for f in [*prof.features.values(), prof.entropy]
                   if isinstance(f, NumericFeature))
        self._items[row.id] = (self._key(model, row), prof, size)
        self._bytes += size
        while len(self._items) > self.entries or self._bytes > self.max_bytes:
            self.drop(next(iter(self._items)))

    def drop(self, row_id: int) -> None:
        item = self._items.pop(row_id, None)
        if item is not None:
            self._bytes -= item[2]

    def __len__(self) -> int:
        return len(self._items)


class Worker(threading.Thread):
    """One per server process; ``stop()`` ends it after the current step."""

    def __init__(self, store: Store, settings: Settings, metrics: Metrics) -> None:
        super().__init__(name="mathguard-monitor-worker", daemon=True)
        self.store, self.settings, self.metrics = store, settings, metrics
        self.failures: dict[tuple[int, str], Failure] = {}  # (model id, stage) -> its failure; absent: healthy
        self.duty_errors: dict[str, str] = {}  # duty -> last error of a step-wide duty (purge, database, ...)
        self.backlog = store.pending_events()
        self.started_at = self.last_step_at = time.time()
        self.steps = 0
        self.running = False  # True once started as a thread (an app may step it by hand instead)
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._backlog_lock = threading.Lock()
        self._last_alerts = self._last_purge = 0.0
        self._summarised: dict[tuple[int, int], float] = {}  # (model id, window start) → when last summarised
        self.window_cache = WindowCache()

    def run(self) -> None:
        while not self._halt.wait(self.settings.fold_interval_s):
            try:
                self.step()
            except Exception as exc:  # a failing step is logged and retried next time; the thread must live on
                self.duty_errors["step"] = one_line(exc)
                log.exception("monitor worker step failed")

    def start(self) -> None:
        self.running = True
        self.last_step_at = time.time()
        super().start()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=30)

    # ---------------------------------------------------------------- failures
    def fail(self, model: Model, stage: str, exc: BaseException, now: float | None = None) -> None:
        """Record that ``stage`` fails for ``model``; that stage pauses for the model until ``retry_at``."""
        now = time.time() if now is None else now
        log.warning("monitor: %s of model %r failed: %s", stage, model.name, one_line(exc))
        with self._lock:
            old = self.failures.get((model.id, stage))
            tries = old.tries + 1 if old else 1
            delay = min(MAX_RETRY_S, RETRY_S * 2 ** (tries - 1))
            self.failures[(model.id, stage)] = Failure(model.name, stage, one_line(exc), old.since if old else now,
                                                       now + delay, tries)

    def _recover(self, model_ids: set[int], stage: str) -> None:
        """Models whose ``stage`` just went through without error: no longer failed there."""
        with self._lock:
            for key in [k for k in self.failures if k[1] == stage and k[0] in model_ids]:
                del self.failures[key]

    def paused(self, stage: str, now: float) -> set[int]:
        """Models for which ``stage`` is paused now (failed, retry not yet due)."""
        with self._lock:
            return {mid for (mid, st), f in self.failures.items() if st == stage and now < f.retry_at}

    def failed_ids(self, stage: str | None = None) -> set[int]:
        with self._lock:
            return {mid for mid, st in self.failures if stage is None or st == stage}

    def failed_pairs(self) -> set[tuple[int, str]]:
        with self._lock:
            return set(self.failures)

    def failure_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self.failures.values()]

    def failures_of(self, model_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for (mid, _), f in self.failures.items() if mid == model_id]

    def health(self) -> dict[str, Any]:
        """The thread's state: alive, seconds since its last completed step, step-wide errors."""
        running = self.running
        age = time.time() - self.last_step_at
        stalled = age > max(120.0, 20 * self.settings.fold_interval_s)
        return {"alive": self.is_alive() if running else None, "running": running, "steps": self.steps,
                "last_step_age_s": round(age, 3), "stalled": running and stalled,
                "errors": dict(self.duty_errors)}

    # ---------------------------------------------------------------- the step
    def _duty(self, name: str, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except Exception as exc:
            self.duty_errors[name] = one_line(exc)
            log.exception("monitor worker duty %s failed", name)
            return None
        self.duty_errors.pop(name, None)
        return result

    def add_backlog(self, n: int) -> None:
        """Count ``n`` events just committed by ingest (the event loop's thread) until the next recount."""
        with self._backlog_lock:
            self.backlog += n

    def _recount_backlog(self) -> None:
        pending = self.store.pending_events(self.failed_ids("fold"))
        with self._backlog_lock:  # an increment from ingest never interleaves with this write
            self.backlog = pending

    def step(self, now: float | None = None) -> None:
        """Fold everything pending, then the periodic duties that are due; each duty and model apart."""
        now = time.time() if now is None else now
        self._duty("fold", lambda: self._fold(now))
        self._duty("backlog", self._recount_backlog)
        self._duty("refresh", lambda: self._refresh(now))
        if now - self._last_alerts >= self.settings.alert_interval_s:
            self._last_alerts = now
            self._duty("alerts", lambda: self._alerts(now))
        if self.settings.retention_s is not None and now - self._last_purge >= 60:
            self._last_purge = now
            self._duty("purge", lambda: self.store.purge(now - self.settings.retention_s,  # type: ignore[operator]
                                                         self.settings.retention_chunk))
        self.steps += 1
        self.last_step_at = time.time()

    def _fold(self, now: float) -> None:
        # Each folded window gets its drift summary, except one summarised less than REFRESH_S ago (a window
        # that keeps gaining events costs one summary per REFRESH_S, not one per fold: ~75 ms each with 20
        # features) and those of a model whose summaries fail (until its retry); the refresh duty, or the
        # first query, computes what is then missing.
        self._summarised = {k: at for k, at in self._summarised.items() if now - at < REFRESH_S}
        paused_summary = self.paused("summary", now)
        summarised_ok: set[int] = set()
        summary_failed: set[int] = set()

        def due(model: Model, start: int) -> bool:
            if model.id in paused_summary or model.id in summary_failed or (model.id, start) in self._summarised:
                return False
            self._summarised[(model.id, start)] = now
            return True

        def summarised(model: Model, error: Exception | None) -> None:
            if error is None:
                summarised_ok.add(model.id)
            elif model.id not in summary_failed:
                summary_failed.add(model.id)
                self.fail(model, "summary", error, now)

        skip = self.paused("fold", now)
        retried = self.failed_ids("fold") - skip
        failed_now: set[int] = set()

        def failed(model: Model, exc: Exception) -> None:
            failed_now.add(model.id)
            self.fail(model, "fold", exc, now)

        while True:
            before = len(failed_now)
            n = fold_pending(self.store, self.settings.resolution_s, exclude=skip | failed_now, on_error=failed,
                             linalg_features=self.settings.max_linalg_features, summarise=due,
                             on_summary=summarised, cache=self.window_cache)
            self.metrics.folded.inc(n)
            if not n and len(failed_now) == before:
                break
        # A retried model that folded without error (or had nothing left to fold) is healthy again.
        self._recover(retried - failed_now, "fold")
        self._recover(summarised_ok - summary_failed, "summary")

    def _refresh(self, now: float) -> None:
        # Windows left without a current summary at fold (declined as summarised less than REFRESH_S ago, failed,
        # or folded before summaries were stored at fold), two per step, newest first; a window that keeps
        # gaining events is re-summarised at most every REFRESH_S, so the worker never starves ingest.
        recent = {k for k, at in self._summarised.items() if now - at < REFRESH_S}
        skip = self.paused("summary", now)
        models = {m.id: m for m in self.store.models() if m.id not in skip}
        ok: set[int] = set()
        for key in refresh_stale(self.store, models, self.settings.resolution_s, limit=2, skip=recent,
                                 on_error=lambda m, e: self.fail(m, "summary", e, now),
                                 on_success=lambda m: ok.add(m.id)):
            self._summarised[key] = now
        self._recover(ok - self.paused("summary", now), "summary")

    def _alerts(self, now: float) -> None:
        failed_now: set[int] = set()

        def failed(model: Model, exc: Exception) -> None:
            failed_now.add(model.id)
            self.fail(model, "alerts", exc, now)

        alerts.evaluate_rules(self.store, resolution=self.settings.resolution_s, now=now, on_error=failed)
        self._recover(self.failed_ids("alerts") - failed_now, "alerts")
