"""An event batch as the API receives it, checked into numpy arrays before anything is written.

Every problem becomes an ``InputError`` (or ``TooLarge``) with one line that names it; the
caller answers 4xx and stores nothing. Arrays travel to and from the database as
little-endian bytes (``to_blob``/``from_blob``): no pickling, nothing executable.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from mathguard.errors import InputError
from mathguard.monitor.limits import MAX_CLASSES, check_values, printable
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
    content_hash: str = ""  # SHA-256 of the content as sent: a reused batch_id with other content is a 409

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


_NUMBER_TYPES = {int, float, type(None)}


def _matrix(rows: Any, name: str, width: int) -> np.ndarray:
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{name} must be a non-empty list of rows")
    if not all(type(r) is list for r in rows):
        raise InputError(f"{name} rows must all be lists of {width} numbers")
    # JSON numbers only: numpy would otherwise read "1.5", "nan" and true as data.
    values = itertools.chain.from_iterable
    kinds = set(map(type, values(rows)))
    if not kinds <= _NUMBER_TYPES:
        bad = sorted(k.__name__ for k in kinds - _NUMBER_TYPES)
        raise InputError(f"{name} must hold JSON numbers (null for a missing value), not {', '.join(bad)}")
    if int in kinds and any(type(v) is int and not -2**53 <= v <= 2**53 for v in values(rows)):
        raise InputError(f"{name} holds an integer beyond 2^53, which float64 cannot carry exactly")
    lengths = set(map(len, rows))
    if len(lengths) > 1:
        raise InputError(f"{name} rows must all be lists of {width} numbers")
    if lengths != {width}:
        raise InputError(f"{name} rows must have {width} values (the model's reference has {width}); "
                         f"got {lengths.pop()}")
    # One flat pass (null becomes NaN): a third cheaper than np.asarray's nested-list discovery.
    return np.fromiter(values(rows), dtype=np.float64, count=len(rows) * width).reshape(len(rows), width)


def _labels(values: Any, n: int, n_classes: int | None) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n:
        raise InputError(f"labels must be a list of {n} class indices (null where unknown)")
    if n_classes is None:
        raise InputError("labels need probabilities: this model's reference profile has no classes")
    if not all(v is None or type(v) is int for v in values):
        raise InputError("labels must be integer class indices or null")
    if any(v is not None and not 0 <= v < n_classes for v in values):  # before numpy, so 2^63 is no overflow
        raise InputError(f"labels must lie in 0..{n_classes - 1} (null where unknown)")
    return np.array([-1 if v is None else v for v in values], dtype=np.int64)


def _alarms(values: Any, n: int) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n or not all(isinstance(v, bool) for v in values):
        raise InputError(f"alarms must be a list of {n} booleans (the guard's detector verdict per event)")
    return np.array(values, dtype=np.uint8)


def parse_time(value: Any) -> float:
    """Seconds since the epoch of an ISO 8601 time (UTC when no zone is given) or of a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            try:
                return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
            except (OverflowError, ValueError, OSError):
                pass
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


def _content_hash(doc: dict[str, Any], features: np.ndarray, proba: np.ndarray | None, labels: np.ndarray | None,
                  alarms: np.ndarray | None, timestamps: np.ndarray) -> str:
    """SHA-256 of what the batch says (values as parsed, so JSON spelling does not matter; timestamps as
    sent, so a retry without timestamps hashes alike although the server stamps each arrival anew)."""
    h = hashlib.sha256()
    for part in (features, proba, labels, alarms, timestamps if doc.get("timestamps") is not None else None):
        if part is None:
            h.update(b"-")
        else:  # the array's memory as is (no copy), then its shape
            h.update(np.ascontiguousarray(part).data)
            h.update(str(part.shape).encode())
        h.update(b"|")
    return h.hexdigest()


def parse_batch(doc: Any, *, n_features: int, n_classes: int | None, now: float, max_events: int,
                clock_skew: float, feature_names: list[str] | None = None, resolution: int | None = None,
                max_windows: int | None = None) -> EventBatch:
    """Check one request body; raise InputError (or TooLarge) with a one-line reason.

    Feature values must be JSON numbers within ``limits.MAX_ABS`` (null = missing), and the
    events of one batch may open at most ``max_windows`` windows of ``resolution`` seconds.
    """
    if not isinstance(doc, dict):
        raise InputError("the body must be a JSON object")
    unknown = sorted(set(doc) - {"batch_id", "features", "proba", "labels", "alarms", "timestamps"})
    if unknown:
        raise InputError(f"unknown fields {unknown[:5]}")
    batch_id = printable(doc.get("batch_id"), "batch_id", MAX_BATCH_ID)
    rows = doc.get("features")
    if isinstance(rows, list) and len(rows) > max_events:
        raise TooLarge(f"a batch holds at most {max_events} events, got {len(rows)}; split it")
    features = _matrix(rows, "features", n_features)
    check_values(features, feature_names or [f"x{i}" for i in range(n_features)])
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
        # The reference has no predictions: probabilities still give entropy and accuracy (prediction drift
        # is n/a); their width is the batch's own, 2..MAX_CLASSES classes.
        raw = doc["proba"]
        width = len(raw[0]) if isinstance(raw, list) and raw and isinstance(raw[0], list) else 0
        if not isinstance(raw, list) or len(raw) != n or not 2 <= width <= MAX_CLASSES:
            raise InputError(f"proba must have one row of 2 to {MAX_CLASSES} probabilities per event ({n})")
        proba = probabilities(_matrix(raw, "proba", width), "proba")
    if doc.get("labels") is not None and proba is None:
        raise InputError("labels need proba: send the model's probabilities with the labels")
    labels = None if doc.get("labels") is None else _labels(doc["labels"], n, None if proba is None
                                                            else proba.shape[1])
    alarms = None if doc.get("alarms") is None else _alarms(doc["alarms"], n)
    timestamps = _timestamps(doc.get("timestamps"), n, now, clock_skew)
    if resolution and max_windows:
        opened = len(np.unique(timestamps // resolution))
        if opened > max_windows:
            raise InputError(f"the batch's timestamps fall in {opened} windows of {resolution} s; a batch may "
                             f"span at most {max_windows}: send events of distant times in separate batches")
    return EventBatch(batch_id, features, proba, labels, alarms, timestamps,
                      _content_hash(doc, features, proba, labels, alarms, timestamps))
