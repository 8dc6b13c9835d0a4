"""The guard's logging: a bounded queue and one background thread, so that no prediction waits for the monitor.

``predict`` hands its events to :meth:`LogQueue.put`, which never blocks: when the queue
already holds ``max_rows`` rows (counting those inside a monitor call) the new events are
dropped and counted. One thread, owned
by the guard, passes them to the monitor (``log(features, proba, labels=, alarms=)``, as
``mg.monitor.Client`` takes them) and, when the queue runs dry and ``flush_interval``
seconds have passed since the last time, asks the monitor to ``flush()``. A client's
flush answers how many batches it still holds unsent in its spool (they go out on a later
flush, nothing is lost); a call that raises loses its rows, counted as dropped. A slow or
dead monitor therefore costs the thread its time and, once the queue is full, the
newest events, never a prediction.

:meth:`LogQueue.flush` and :meth:`LogQueue.close` wait at most ``timeout`` seconds; rows
still queued when ``close`` gives up are counted as dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from mathguard.errors import InputError
from mathguard.validate import finite
from mathguard.params import COUNT, NON_NEGATIVE, declare


@dataclass(frozen=True)
class LogCounts:
    """What became of the events the guard handed to its monitor, so far.

    ``logged_rows``: accepted by the monitor's ``log`` (buffered or sent by the client);
    ``dropped_rows``: lost, because the queue was full, the monitor raised, or ``close``
    timed out with rows still queued; ``queued_rows``: waiting in the queue or inside a
    monitor call now;
    ``spooled_batches``: batches the client said it still holds unsent after its last flush;
    ``errors``: monitor calls that raised plus flushes that left batches unsent;
    ``last_error``: the latest of those, in one line ("" when none).
    """

    logged_rows: int = 0
    dropped_rows: int = 0
    queued_rows: int = 0
    spooled_batches: int = 0
    errors: int = 0
    last_error: str = ""

    @property
    def healthy(self) -> bool:
        return not (self.dropped_rows or self.spooled_batches or self.errors)


class LogQueue:
    """A bounded queue of events for ``monitor`` and the daemon thread that delivers them."""

    @declare(max_rows=COUNT, flush_interval=NON_NEGATIVE)
    def __init__(self, monitor: Any, *, max_rows: int = 100_000, flush_interval: float = 5.0) -> None:
        if not callable(getattr(monitor, "log", None)):
            raise InputError("monitor must have a log(features, proba, labels=, alarms=) method "
                             f"(an mg.monitor.Client), got {type(monitor).__name__}")
        self.monitor = monitor
        self.max_rows, self.flush_interval = int(max_rows), float(flush_interval)
        self._cond = threading.Condition()
        self._items: deque[tuple[int, tuple[Any, ...], dict[str, Any]]] = deque()
        self._thread: threading.Thread | None = None
        self._stop = False
        self._dirty = False  # rows logged since the last flush
        self._flush_asked = self._flush_done = 0
        self._last_flush = time.monotonic()
        self._counts = {"logged_rows": 0, "dropped_rows": 0, "queued_rows": 0, "spooled_batches": 0, "errors": 0}
        self._last_error = ""

    # ------------------------------------------------------------------ the caller's side
    def put(self, n: int, *args: Any, **kwargs: Any) -> bool:
        """Queue one ``monitor.log(*args, **kwargs)`` call of ``n`` rows; False (and counted) when it is dropped."""
        with self._cond:
            if self._counts["queued_rows"] + n > self.max_rows:
                self._counts["dropped_rows"] += n
                return False
            self._items.append((n, args, kwargs))
            self._counts["queued_rows"] += n
            self._stop = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mathguard-guard-log", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def counts(self) -> LogCounts:
        with self._cond:
            return LogCounts(**self._counts, last_error=self._last_error)

    def flush(self, timeout: float = 10.0) -> bool:
        """Deliver what is queued and flush the monitor; True when that finished within ``timeout`` seconds."""
        deadline = time.monotonic() + finite(timeout, "timeout", low=0)
        with self._cond:
            if self._thread is None:
                return True
            self._flush_asked += 1
            ticket = self._flush_asked
            self._cond.notify_all()
            while self._flush_done < ticket and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float = 10.0) -> LogCounts:
        """Flush (within ``timeout``) and stop the thread; rows still queued after that are counted as dropped.

        A call into the monitor that is still running when the time is up finishes on its own
        (the thread is a daemon); the queue can be used again afterwards.
        """
        deadline = time.monotonic() + finite(timeout, "timeout", low=0)
        self.flush(timeout)
        with self._cond:
            self._stop = True
            abandoned = sum(n for n, _, _ in self._items)
            self._items.clear()
            self._counts["queued_rows"] -= abandoned
            self._counts["dropped_rows"] += abandoned
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        return self.counts()

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        try:
            self._serve()
        finally:  # however the thread ends, a later put() starts a new one and flush() stops waiting
            with self._cond:
                if self._thread is threading.current_thread():
                    self._thread = None
                self._cond.notify_all()

    def _serve(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._items:
                        n, args, kwargs = self._items.popleft()
                        job = "log"
                        break
                    flush_due = self._dirty and time.monotonic() - self._last_flush >= self.flush_interval
                    if self._flush_done < self._flush_asked or flush_due:
                        ticket, job = self._flush_asked, "flush"
                        break
                    if self._stop:
                        self._thread = None
                        return
                    wait = self.flush_interval - (time.monotonic() - self._last_flush) if self._dirty else None
                    self._cond.wait(None if wait is None else max(wait, 0.01))
            if job == "log":
                self._log(n, args, kwargs)
            else:
                self._flush(ticket)

    def _log(self, n: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        error = ""
        try:
            self.monitor.log(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 — a failing monitor costs its rows, never the guard
            error = _one_line(exc)
        with self._cond:
            self._counts["queued_rows"] -= n
            if error:
                self._counts["dropped_rows"] += n
                self._counts["errors"] += 1
                self._last_error = error
            else:
                self._counts["logged_rows"] += n
                self._dirty = True

    def _flush(self, ticket: int) -> None:
        flush = getattr(self.monitor, "flush", None)
        error, unsent = "", 0
        if callable(flush):
            try:
                answer = flush()
                unsent = answer if isinstance(answer, int) and not isinstance(answer, bool) else 0
            except Exception as exc:  # noqa: BLE001
                error = _one_line(exc)
        with self._cond:
            self._dirty = False
            self._last_flush = time.monotonic()
            self._counts["spooled_batches"] = unsent
            if error or unsent:
                self._counts["errors"] += 1
                self._last_error = error or f"the monitor holds {unsent} unsent batches in its spool"
            self._flush_done = max(self._flush_done, ticket)
            self._cond.notify_all()


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
