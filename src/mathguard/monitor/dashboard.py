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


def dashboard_data(store: Store, settings: Settings, window: int, *, admin: bool = False,
                   worker: Any = None) -> dict[str, Any]:
    """Per model: the last POINTS windows (start, events, psi_max, entropy_mean, verdict), rules and any
    failure of its processing; plus history and the worker's state. One model whose windows cannot be
    read shows its error; the others are drawn as usual."""
    now = time.time()
    out = []
    for model in store.models():
        failures = worker.failures_of(model.id) if worker is not None else []
        entry: dict[str, Any] = {"name": model.name, "verdict": None, "points": [], "rules": [],
                                 "failed": bool(failures), "failures": failures}
        try:
            series = drift_series(store, model, window=window, resolution=settings.resolution_s,
                                  start=now - POINTS * window, end=now + settings.clock_skew_s)
            entry["points"] = [{k: w.get(k) for k in ("start", "events", "psi_max", "entropy_mean", "accuracy", "verdict",
                                                      "condition_number", "ece", "macro_f1")} for w in series]
            entry["verdict"] = entry["points"][-1]["verdict"] if entry["points"] else None
            if series:  # the latest window's quality and linear algebra, drawn as tables
                entry["quality"] = series[-1].get("quality")
                entry["linalg"] = series[-1].get("linalg")
                entry["findings"] = series[-1].get("findings", [])
        except Exception as exc:  # this model's windows cannot be summarised: say so, draw the rest
            entry["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        try:
            entry["rules"] = alerts.rules(store, model, admin=admin)
        except Exception as exc:
            entry.setdefault("error", f"rules: {type(exc).__name__}"[:300])
        out.append(entry)
    health = worker.health() if worker is not None else None
    return {"window_s": window, "now": now, "models": out, "history": alerts.history(store, 20, admin=admin),
            "worker": health}
