"""The dashboard: one HTML page with inline script and SVG (no network assets), fed by /v1/dashboard.

The page reads a read-scoped key from the URL fragment (``/#token=...``, never sent to the
server), removes it from the address bar and the history entry at once and keeps it in the
tab's sessionStorage; without a key, or with one the server refuses, the page says so and
asks for one. It draws each model's drift (largest PSI), entropy, accuracy, condition number
and ECE per window, the rules and history, and a per-feature view (PSI of every feature per
window, and the latest window's histogram of one feature against the reference's, from
``/v1/models/{name}/drift`` and ``/v1/models/{name}/histogram``). The window choices are
the server's resolution and wider multiples of it.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from mathguard.monitor import alerts
from mathguard.monitor.config import MAX_DURATION, Settings
from mathguard.monitor.store import Store
from mathguard.monitor.series import drift_series

POINTS = 48  # windows drawn per model
MAX_WINDOW = MAX_DURATION // POINTS  # the widest window the dashboard asks for (POINTS of them within the limit)
_STEPS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)  # the usual widths, offered where the resolution divides them
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@lru_cache(maxsize=1)
def dashboard_html() -> str:
    return Path(__file__).with_name("dashboard.html").read_text(encoding="utf-8")


def duration_label(seconds: int) -> str:
    """'1h', '90m', '7d', '45s': the largest unit that divides ``seconds``."""
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"  # pragma: no cover - the 1 s unit divides everything


def window_choices(resolution: int) -> list[int]:
    """Windows the dashboard offers: the resolution itself, then the usual widths that are multiples of it (a
    resolution that divides none of them gets 6, 24 and 168 times itself), all within ``MAX_WINDOW``."""
    out = [resolution] + [s for s in _STEPS if s > resolution and s % resolution == 0 and s <= MAX_WINDOW]
    if len(out) < 3:
        out += [k * resolution for k in (6, 24, 168) if k * resolution <= MAX_WINDOW and k * resolution not in out]
    return sorted(set(out))


def default_window(resolution: int) -> int:
    """An hour where the resolution divides it, else the resolution."""
    return 3600 if resolution < 3600 and 3600 % resolution == 0 else resolution


def dashboard_data(store: Store, settings: Settings, window: int, *, admin: bool = False,
                   worker: Any = None) -> dict[str, Any]:
    """Per model: its features, the last POINTS windows (start, events, psi_max, entropy_mean, verdict, ...),
    rules and any failure of its processing; plus history, the worker's state, the server's resolution and
    the windows offered. One model whose windows cannot be read shows its error; the others are drawn as usual."""
    now = time.time()
    start, end = now - POINTS * window, now + settings.clock_skew_s
    out = []
    for model in store.models():
        failures = worker.failures_of(model.id) if worker is not None else []
        entry: dict[str, Any] = {"name": model.name, "verdict": None, "points": [], "rules": [], "features": [],
                                 "failed": bool(failures), "failures": failures}
        try:
            entry["features"] = list(model.reference.features)
            series = drift_series(store, model, window=window, resolution=settings.resolution_s,
                                  start=start, end=end)
            entry["points"] = [{k: w.get(k) for k in ("start", "events", "psi_max", "entropy_mean", "accuracy", "verdict",
                                                      "condition_number", "ece", "macro_f1")} for w in series]
            entry["verdict"] = entry["points"][-1]["verdict"] if entry["points"] else None
            if series:  # the latest window's quality and linear algebra, drawn as tables
                entry["psi_max_feature"] = max(series[-1]["features"].items(), key=lambda kv: kv[1]["psi"],
                                               default=(None, None))[0]
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
    return {"window_s": window, "resolution_s": settings.resolution_s,
            "windows": [{"s": s, "label": duration_label(s)} for s in window_choices(settings.resolution_s)],
            "now": now, "start": start, "end": end, "models": out, "history": alerts.history(store, 20, admin=admin),
            "worker": health}
