"""Shared helpers that turn metric values into short human strings for any renderer."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mathguard.report.jsonable import jsonable


def fmt_number(x: Any) -> str:
    """Compact, precision-aware formatting: 0.0123, 1.23e+06, inf, 42."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(x)


def is_scalar(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool, np.integer, np.floating, np.bool_)) or v is None


def metric_rows(metrics: dict[str, Any], max_items: int = 12) -> list[tuple[str, str]]:
    """(name, value) rows: scalars as is, small mappings/lists inline, large ones summarised."""
    rows: list[tuple[str, str]] = []
    for key, value in metrics.items():
        if is_scalar(value):
            rows.append((key, fmt_number(value)))
        elif isinstance(value, dict):
            items = list(value.items())
            shown = ", ".join(
                f"{k}: {fmt_number(v) if is_scalar(v) else '…'}" for k, v in items[:max_items]
            )
            more = f" … (+{len(items) - max_items})" if len(items) > max_items else ""
            rows.append((key, "{" + shown + more + "}"))
        else:
            seq = jsonable(value)
            if isinstance(seq, list):
                flat = [fmt_number(v) if is_scalar(v) else "…" for v in seq[:max_items]]
                more = f" … (+{len(seq) - max_items})" if len(seq) > max_items else ""
                rows.append((key, "[" + ", ".join(flat) + more + "]"))
            else:
                rows.append((key, str(seq)))
    return rows
