"""Stream a training run's per-step summaries to the monitoring service, off the training thread.

``Monitor(..., client=, run=)`` hands each step's numbers (plain floats it has already read)
to a ``RunStream``; every ``flush_every`` steps the batch goes to a sender thread that posts
it with ``Client.log_steps`` (bounded batches, retried by the client). The training step
never waits on the network: it appends to a list, and only when ``max_pending`` batches
are queued because the service is slow does it wait for one to leave. When the service
refuses or cannot be reached the stream stops sending and says so in ``error`` (the
Monitor turns it into a finding); training is never stopped by its monitoring.

Metric names follow one convention the service reads back: ``loss``, ``lr``, ``grad_norm``
(all layers together), ``grad_norm_max``, ``grad_norm.NN.<layer>`` with the layer's order
NN (so the service can tell the first layer from the last), and on sampled steps
``update_ratio_max`` and ``dead_share_max``; ``n_outputs`` is sent once, with the first step.
"""

from __future__ import annotations

import math
import queue
import threading
from typing import Any

MAX_LAYERS = 48  # per-layer series streamed; a step stays well inside the service's 100 metrics
_NAME_LIMIT = 100


def layer_metric(index: int, name: str) -> str:
    """``grad_norm.NN.<layer>``: the order first, so sorting by name keeps the layers in order."""
    return f"grad_norm.{index:02d}.{name}"[:_NAME_LIMIT]


def step_metrics(loss: float, lr: float, grad_norms: list[float], names: list[str], update_ratios: list[float],
                 shares: dict[str, float]) -> dict[str, float]:
    """The numbers of one step, named as the service expects (non-finite values stay: the client sends null)."""
    finite = all(math.isfinite(g) for g in grad_norms)
    total = math.sqrt(sum(g * g for g in grad_norms)) if finite else math.nan
    out = {"loss": loss, "grad_norm": total, "grad_norm_max": max(grad_norms) if finite else math.nan}
    if math.isfinite(lr):
        out["lr"] = lr
    for i, (name, g) in enumerate(zip(names[:MAX_LAYERS], grad_norms)):
        out[layer_metric(i, name)] = g
    ratios = [r for r in update_ratios if not math.isnan(r)]
    if ratios:
        out["update_ratio_max"] = max(ratios)
    seen = [s for s in shares.values() if math.isfinite(s)]
    if seen:
        out["dead_share_max"] = max(seen)
    return out


class RunStream:
    """Buffered, threaded posting of steps of run ``run`` through ``client`` (a ``mg.monitor.Client``)."""

    def __init__(self, client: Any, run: str, *, flush_every: int = 100, max_pending: int = 8,
                 first: dict[str, float] | None = None) -> None:
        self.client, self.run, self.flush_every = client, run, flush_every
        self.sent = 0
        self.error: str | None = None
        self._first = dict(first or {})
        self._buffer: list[dict[str, Any]] = []
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._send, name=f"mathguard-run-{run}", daemon=True)
        self._thread.start()

    def add(self, step: int, metrics: dict[str, float]) -> None:
        if self._first:
            metrics = {**self._first, **metrics}
            self._first = {}
        self._buffer.append({"step": step, "metrics": metrics})
        if len(self._buffer) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered steps to the sender (waits only when ``max_pending`` batches are queued)."""
        if self._buffer and self.error is None:
            self._queue.put(self._buffer)
        self._buffer = []

    def close(self) -> None:
        """Send what is left and wait for the sender to finish."""
        if not self._thread.is_alive():
            return
        self.flush()
        self._queue.put(None)
        self._thread.join()

    def _send(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the service is gone, training goes on
            try:
                self.client.log_steps(self.run, batch)
                self.sent += len(batch)
            except Exception as exc:  # a refusal or an unreachable service: stop sending, report it
                self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
