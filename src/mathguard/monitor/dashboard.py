"""The dashboard: one HTML page with inline script and SVG (no network assets), fed by /v1/dashboard.

The page reads a read-scoped key from the URL fragment (``/#token=...``, never sent to the
server) or asks for one, then draws each model's drift (largest PSI) and mean prediction
entropy per window, the current verdict and the alert rules and history.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from mathguard.monitor import alerts
from mathguard.monitor.config import Settings
from mathguard.monitor.store import Store
from mathguard.monitor.windows import drift_series

POINTS = 48  # windows drawn per model


@lru_cache(maxsize=1)
def dashboard_html() -> str:
    return Path(__file__).with_name("dashboard.html").read_text(encoding="utf-8")


def dashboard_data(store: Store, settings: Settings, window: int) -> dict[str, Any]:
    """Per model: the last POINTS windows (start, events, psi_max, entropy_mean, verdict), rules; plus history."""
    now = time.time()
    out = []
    for model in store.models():
        series = drift_series(store, model, window=window, resolution=settings.resolution_s,
                              start=now - POINTS * window, end=now + settings.clock_skew_s)
        points = [{k: w[k] for k in ("start", "events", "psi_max", "entropy_mean", "accuracy", "verdict")}
                  for w in series]
        out.append({"name": model.name, "verdict": points[-1]["verdict"] if points else None,
                    "points": points, "rules": alerts.rules(store, model)})
    return {"window_s": window, "now": now, "models": out, "history": alerts.history(store, 20)}
