"""What the service accepts at the door: the bounds the window mathematics can carry, and a strict profile check.

Window profiles keep exact moments (mean and the centred sum of squares, float64) and are
merged batch after batch, so a value is accepted only if its square summed over any
window stays finite: ``|x| <= MAX_ABS`` with ``MAX_ABS**2 * MAX_WINDOW_EVENTS`` below
the largest float64 (a window never holds more than 2^53 events; counts are exact up to
there). A batch that breaks this is refused with a 422 naming the feature, so the worker
never sees a value it cannot fold.

``check_profile`` reads a reference profile document field by field, refusing every value
that is not what ``mathguard.drift.profile`` would have written (wrong type, negative or
non-integer counts, NaN or infinite moments, min > max, counts that do not add up, an
unreadable sketch), with one line that names the field.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from typing import Any

import numpy as np

from mathguard.drift import Profile
from mathguard.errors import InputError

MAX_WINDOW_EVENTS = 2**53
MAX_ABS = float(f"{math.sqrt(sys.float_info.max / MAX_WINDOW_EVENTS):.0e}")  # 1e146
MAX_FEATURES = 2000
MAX_CLASSES = 1000
MAX_NAME = 200
MAX_SAMPLE = 100_000
MAX_BUCKETS = 65_536
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(text: str, what: str, max_length: int = MAX_NAME) -> str:
    """``text`` if it is a string of 1..max_length characters without control characters (NUL included)."""
    if not isinstance(text, str) or not 0 < len(text) <= max_length:
        raise InputError(f"{what} must be a string of 1 to {max_length} characters")
    if _CONTROL.search(text):
        raise InputError(f"{what} must not contain control characters (such as \\u0000)")
    return text


def check_values(features: np.ndarray, names: list[str]) -> None:
    """Refuse a feature matrix holding a value the window moments cannot carry (NaN = missing is fine)."""
    with np.errstate(invalid="ignore"):
        big = np.abs(features) > MAX_ABS  # NaN compares False; +-inf is caught here too
    if big.any():
        row, col = (int(i) for i in np.argwhere(big)[0])
        raise InputError(f"feature {names[col]!r} (column {col}) holds {features[row, col]:.3g} at row {row}: "
                         f"its square summed over a window would overflow float64; values must lie within "
                         f"+-{MAX_ABS:.0e} (null marks a missing value)")


# ---------------------------------------------------------------- profiles
def _int(doc: dict[str, Any], key: str, where: str, low: int = 0, high: int = MAX_WINDOW_EVENTS) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"profile {where}{key} must be an integer, got {_show(value)}")
    if not low <= value <= high:
        raise InputError(f"profile {where}{key} must lie in [{low}, {high}], got {value}")
    return value


def _float(doc: dict[str, Any], key: str, where: str, low: float = -MAX_ABS, high: float = MAX_ABS) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise InputError(f"profile {where}{key} must be a finite number, got {_show(value)}")
    if not low <= value <= high:
        raise InputError(f"profile {where}{key} must lie in [{low:g}, {high:g}], got {value:g}")
    return float(value)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float64
        return False


def _show(value: Any) -> str:
    return repr(value)[:40]


def _dict(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise InputError(f"profile {where} must be an object, got {type(doc).__name__}")
    return doc


def _int_list(values: Any, where: str, bits: int = 64) -> list[int]:
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InputError(f"profile {where} must be a list of integers")
    if any(not -2**(bits - 1) <= v < 2**(bits - 1) for v in values):
        raise InputError(f"profile {where} holds an integer outside {bits} bits")
    return values


def _sketch(doc: Any, where: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    from mathguard.drift.sketch import MAX_LEVEL, bucket_edges

    doc = _dict(doc, where)
    level = _int(doc, "level", where, 0, MAX_LEVEL)
    _int(doc, "max_buckets", where, 16, MAX_BUCKETS)
    # A delta between a negative and a positive key may exceed int64 (the keys themselves may not: checked below).
    deltas = _int_list(doc.get("key_deltas"), where + "key_deltas", bits=65)
    counts = _int_list(doc.get("counts"), where + "counts")
    if len(deltas) != len(counts) or len(counts) > MAX_BUCKETS:
        raise InputError(f"profile {where}key_deltas and counts must be lists of one length (at most {MAX_BUCKETS})")
    if any(c <= 0 for c in counts) or sum(counts) != n:
        raise InputError(f"profile {where}counts must be positive and add up to the feature's n ({n})")
    keys = list(itertools.accumulate(deltas))
    top = (2047 << level) - 1  # exponent 2047 is inf/NaN: the last finite bucket lies below it
    if any(b <= a for a, b in zip(keys, keys[1:])) or any(abs(k) >= top for k in keys):
        raise InputError(f"profile {where}key_deltas must describe increasing buckets of finite values")
    lo, hi = bucket_edges(np.asarray(keys, dtype=np.int64), level)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise InputError(f"profile {where}key_deltas describe buckets beyond the float64 range")
    return lo, hi


def _numeric(doc: Any, where: str, n_rows: int, low: float = -MAX_ABS, high: float = MAX_ABS) -> None:
    doc = _dict(doc, where)
    if doc.get("kind") != "numeric":
        raise InputError(f"profile {where}kind must be 'numeric' (the monitor takes numeric features only), "
                         f"got {_show(doc.get('kind'))}")
    n = _int(doc, "n", where, 1)
    missing, infinite = _int(doc, "n_missing", where), _int(doc, "n_infinite", where)
    if n + missing + infinite != n_rows:
        raise InputError(f"profile {where}n + n_missing + n_infinite must equal n_rows ({n_rows}), "
                         f"got {n + missing + infinite}")
    lo, hi = _float(doc, "min", where, low, high), _float(doc, "max", where, low, high)
    if lo > hi:
        raise InputError(f"profile {where}min ({lo:g}) exceeds max ({hi:g})")
    mean = _float(doc, "mean", where, low, high)
    slack = 1e-9 * max(abs(lo), abs(hi), 1e-300)
    if not lo - slack <= mean <= hi + slack:
        raise InputError(f"profile {where}mean ({mean:g}) lies outside [min, max]")
    m2 = _float(doc, "m2", where, 0.0, sys.float_info.max)
    if m2 > n * (hi - lo) ** 2 * (1 + 1e-9) + slack:
        raise InputError(f"profile {where}m2 ({m2:g}) is larger than n values within [min, max] allow")
    edges_lo, edges_hi = _sketch(doc.get("sketch"), where + "sketch.", n)
    if not (edges_lo[0] <= lo <= edges_hi[0] and edges_lo[-1] <= hi <= edges_hi[-1]):
        raise InputError(f"profile {where}sketch does not cover [min, max]")


def _prediction(doc: Any, n_classes: int, n_rows: int) -> None:
    doc = _dict(doc, "prediction")
    if doc.get("kind") != "categorical":
        raise InputError("profile prediction.kind must be 'categorical'")
    _int(doc, "max_categories", "prediction.", 1, 10**6)
    counts = _dict(doc.get("counts"), "prediction.counts")
    allowed = {str(k) for k in range(n_classes)}
    if not set(counts) <= allowed:
        raise InputError(f"profile prediction.counts keys must be class indices 0..{n_classes - 1}")
    for k in counts:
        _int(counts, k, "prediction.counts.", 0)
    if _int(doc, "n_missing", "prediction.") or _int(doc, "n_other", "prediction."):
        raise InputError("profile prediction.n_missing and n_other must be 0")
    if sum(counts.values()) != n_rows:
        raise InputError(f"profile prediction.counts must add up to n_rows ({n_rows})")


def _sample(doc: Any, names: set[str]) -> None:
    doc = _dict(doc, "sample")
    _int(doc, "size", "sample.", 0, MAX_SAMPLE)
    hashes = doc.get("hashes")
    if not isinstance(hashes, list) or len(hashes) > MAX_SAMPLE or not all(
            isinstance(h, str) and h.isascii() and h.isdigit() and len(h) <= 20 and int(h) < 2**64 for h in hashes):
        raise InputError("profile sample.hashes must be a list of unsigned 64-bit integers written as strings")
    columns = _dict(doc.get("columns"), "sample.columns")
    if not set(columns) <= names:
        raise InputError("profile sample.columns must name features of the profile")
    for name, values in columns.items():
        if not isinstance(values, list) or len(values) != len(hashes) or not all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and _finite(v)
                              and abs(v) <= MAX_ABS) for v in values):
            raise InputError(f"profile sample.columns.{name} must hold {len(hashes)} finite numbers or nulls")


def check_profile(doc: Any) -> Profile:
    """The reference profile of ``doc``, or an InputError naming the first field that is not a sane profile."""
    from mathguard.drift.storage import SCHEMA

    doc = _dict(doc, "document")
    if doc.get("schema") != SCHEMA:
        raise InputError(f"profile schema must be {SCHEMA!r}, got {_show(doc.get('schema'))}")
    known = {"schema", "n_rows", "n_classes", "features", "prediction", "entropy", "sample"}
    if set(doc) != known:
        raise InputError(f"profile fields must be {sorted(known)}; missing {sorted(known - set(doc))[:3]}, "
                         f"unknown {sorted(set(doc) - known)[:3]}")
    n_rows = _int(doc, "n_rows", "", 1)
    n_classes = doc.get("n_classes")
    if n_classes is not None:
        n_classes = _int(doc, "n_classes", "", 2, MAX_CLASSES)
    features = doc.get("features")
    if not isinstance(features, dict) or not features:
        raise InputError("profile features must be a non-empty object (one entry per feature)")
    if len(features) > MAX_FEATURES:
        raise InputError(f"profile holds {len(features)} features; the monitor takes at most {MAX_FEATURES}")
    for name, feature in features.items():
        printable(name, "profile feature name")
        _numeric(feature, f"features.{name}.", n_rows)
    if n_classes is None:
        if doc["prediction"] is not None or doc["entropy"] is not None:
            raise InputError("profile prediction and entropy must be null when n_classes is null")
    else:
        _prediction(doc["prediction"], n_classes, n_rows)
        _numeric(doc["entropy"], "entropy.", n_rows, 0.0, math.log2(n_classes) * (1 + 1e-9) + 1e-9)
    _sample(doc["sample"], set(features))
    try:
        reference = Profile.from_dict(doc)
    except InputError:
        raise
    except Exception as exc:  # anything from_dict trips on that the checks above missed is still a 422
        raise InputError(f"unreadable profile: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}") from None
    return reference
