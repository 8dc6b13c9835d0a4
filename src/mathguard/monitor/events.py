"""An event batch as the API receives it, checked into numpy arrays before anything is written.

Every problem becomes an ``InputError`` (or ``TooLarge``) with one line that names it; the
caller answers 4xx and stores nothing. Arrays travel to and from the database as
little-endian bytes (``to_blob``/``from_blob``): no pickling, nothing executable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from mathguard.errors import InputError
from mathguard.validate import probabilities

MAX_BATCH_ID = 200


class TooLarge(InputError):
    """The batch holds more events than the server accepts in one request (HTTP 413)."""


@dataclass
class EventBatch:
    """One client batch: n events of d features, with optional probabilities, labels, alarms, times."""

    batch_id: str
    features: np.ndarray  # (n, d) float64; NaN where a value was missing (null)
    proba: np.ndarray | None  # (n, K) float64
    labels: np.ndarray | None  # (n,) int64; -1 where an event came without a label
    alarms: np.ndarray | None  # (n,) uint8: the guard's detector fired (1) or not (0)
    timestamps: np.ndarray  # (n,) float64 seconds since the epoch (UTC)

    @property
    def n(self) -> int:
        return len(self.features)


def to_blob(arr: np.ndarray | None, dtype: str = "<f8") -> bytes | None:
    return None if arr is None else np.ascontiguousarray(arr, dtype=dtype).tobytes()


def from_blob(blob: bytes | None, dtype: str = "<f8", width: int | None = None) -> np.ndarray | None:
    if blob is None:
        return None
    arr = np.frombuffer(blob, dtype=dtype)
    return arr.reshape(-1, width) if width else arr


def _matrix(rows: Any, name: str, width: int) -> np.ndarray:
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{name} must be a non-empty list of rows")
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        lengths = {len(r) for r in rows if isinstance(r, list)}
        if len(lengths) > 1 or not all(isinstance(r, list) for r in rows):
            raise InputError(f"{name} rows must all be lists of {width} numbers") from None
        raise InputError(f"{name} must hold numbers (null for a missing value)") from None
    if arr.ndim != 2 or arr.shape[1] != width:
        got = arr.shape[1] if arr.ndim == 2 else "not a list of rows"
        raise InputError(f"{name} rows must have {width} values (the model's reference has {width}); got {got}")
    return arr


def _labels(values: Any, n: int, n_classes: int | None) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n:
        raise InputError(f"labels must be a list of {n} class indices (null where unknown)")
    if n_classes is None:
        raise InputError("labels need probabilities: this model's reference profile has no classes")
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
        raise InputError("labels must be integer class indices or null")
    arr = np.array([-1 if v is None else v for v in values], dtype=np.int64)
    known = arr[arr != -1]
    if known.size and (known.min() < 0 or known.max() >= n_classes):
        raise InputError(f"labels must lie in 0..{n_classes - 1}")
    return arr


def _alarms(values: Any, n: int) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n or not all(isinstance(v, bool) for v in values):
        raise InputError(f"alarms must be a list of {n} booleans (the guard's detector verdict per event)")
    return np.array(values, dtype=np.uint8)


def parse_time(value: Any) -> float:
    """Seconds since the epoch of an ISO 8601 time (UTC when no zone is given) or of a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    raise InputError(f"timestamp {str(value)[:40]!r} is neither ISO 8601 nor seconds since the epoch")


def _timestamps(values: Any, n: int, now: float, skew: float) -> np.ndarray:
    if values is None:
        return np.full(n, now)
    if not isinstance(values, list) or len(values) != n:
        raise InputError(f"timestamps must be a list of {n} ISO 8601 times")
    arr = np.array([parse_time(v) for v in values], dtype=np.float64)
    if arr.max() > now + skew or arr.min() < 0:
        raise InputError(f"timestamps must lie between 1970 and {skew:.0f} s from now")
    return arr


def parse_batch(doc: Any, *, n_features: int, n_classes: int | None, now: float, max_events: int,
                clock_skew: float) -> EventBatch:
    """Check one request body; raise InputError (or TooLarge) with a one-line reason."""
    if not isinstance(doc, dict):
        raise InputError("the body must be a JSON object")
    unknown = sorted(set(doc) - {"batch_id", "features", "proba", "labels", "alarms", "timestamps"})
    if unknown:
        raise InputError(f"unknown fields {unknown[:5]}")
    batch_id = doc.get("batch_id")
    if not isinstance(batch_id, str) or not 0 < len(batch_id) <= MAX_BATCH_ID:
        raise InputError(f"batch_id must be a string of 1 to {MAX_BATCH_ID} characters")
    rows = doc.get("features")
    if isinstance(rows, list) and len(rows) > max_events:
        raise TooLarge(f"a batch holds at most {max_events} events, got {len(rows)}; split it")
    features = _matrix(rows, "features", n_features)
    n = len(features)
    proba = None
    if n_classes is not None:
        if doc.get("proba") is None:
            raise InputError(f"proba is required: the model's reference has {n_classes} classes")
        raw = doc["proba"]
        if not isinstance(raw, list) or len(raw) != n:
            raise InputError(f"proba must have one row of {n_classes} probabilities per event ({n})")
        proba = probabilities(_matrix(raw, "proba", n_classes), "proba")
    elif doc.get("proba") is not None:
        raise InputError("proba given, but the model's reference profile has no predictions")
    labels = None if doc.get("labels") is None else _labels(doc["labels"], n, n_classes)
    alarms = None if doc.get("alarms") is None else _alarms(doc["alarms"], n)
    return EventBatch(batch_id, features, proba, labels, alarms, _timestamps(doc.get("timestamps"), n, now, clock_skew))
