"""Argument checks shared by every public entry point: one wording, one rule for each kind of number.

A NaN eps, a float sample count or an infinite sigma would otherwise flow into a certificate
or a verdict and come out as a confident, wrong number. The array checks (labels, probability
matrices, matching lengths) are shared by the statistics, information, drift and monitor lenses.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mathguard.errors import InputError
from mathguard.params import Int, Real


def finite(value: Any, what: str, *, low: float = -math.inf, high: float = math.inf,
           open_low: bool = False, open_high: bool = False) -> float:
    """A finite real number between low and high (each end included unless ``open_*``), as a float: the rule
    ``params.Real`` declares, for values checked in a body (one against another, or against the data)."""
    Real(low, high, open_low, open_high).check(value, what)
    return float(value)


def integer(value: Any, what: str, *, low: int = 1, high: int | None = None) -> int:
    """An integer (not 200.5, not True) in [low, high], as an int: the rule ``params.Int`` declares."""
    Int(low, high).check(value, what)
    return int(value)


def as_1d(values: Any, name: str, dtype: Any = None) -> np.ndarray:
    """A finite, non-empty 1-D array, or an InputError naming ``name``."""
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name} is empty")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return arr


def same_length(**arrays: np.ndarray) -> int:
    """The common length of the arrays, or an InputError listing the lengths."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        shown = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise InputError(f"length mismatch: {shown}")
    return next(iter(lengths.values()))


def labels(y: Any, name: str = "y_true", n_classes: int | None = None) -> np.ndarray:
    """Integer class labels 0..K-1 (K inferred or given); at least two classes present unless K is given."""
    arr = as_1d(y, name)
    if arr.dtype.kind == "f":
        if not np.all(arr == np.round(arr)):
            raise InputError(f"{name} must hold integer class labels, got non-integer values")
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iub":
        raise InputError(f"{name} must hold integer class labels 0..K-1, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or (n_classes is not None and arr.max() >= n_classes):
        hi = "K-1" if n_classes is None else n_classes - 1
        raise InputError(f"{name} must hold labels in 0..{hi}, got range {arr.min()}..{arr.max()}")
    return arr


def probabilities(proba: Any, name: str = "proba", atol: float = 1e-3) -> np.ndarray:
    """An (n, K) probability matrix; a 1-D input is P(class 1) of a binary problem."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise InputError(f"{name} must be an (n, K≥2) matrix or a 1-D vector of P(class 1), got shape {p.shape}")
    if not np.isfinite(p).all():
        raise InputError(f"{name} contains NaN or infinite values")
    if p.min() < 0 or p.max() > 1:
        raise InputError(f"{name} must lie in [0, 1], got range {p.min():.4g}..{p.max():.4g}")
    sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > atol:
        raise InputError(f"{name} rows must sum to 1; row {worst} sums to {sums[worst]:.6g} (pass logits to a softmax first?)")
    return p


def at_least_two_classes(y: np.ndarray, name: str = "y_true") -> None:
    """Calibration, AUC and the CV tests are undefined when only one class is present."""
    if np.unique(y).size < 2:
        raise InputError(f"{name} contains a single class ({y[0]}); need at least two")
