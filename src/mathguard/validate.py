"""Argument checks shared by every public entry point: one wording, one rule for each kind of number.

A NaN eps, a float sample count or an infinite sigma would otherwise flow into a certificate
or a verdict and come out as a confident, wrong number.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from mathguard.errors import InputError


def finite(value: Any, what: str, *, low: float = -math.inf, high: float = math.inf,
           open_low: bool = False, open_high: bool = False) -> float:
    """A finite real number between low and high (each end included unless ``open_*``), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    v = float(value)
    if v < low or v > high or (open_low and v == low) or (open_high and v == high):
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise InputError(f"{what} must be in {interval}, got {value!r}")
    return v


def integer(value: Any, what: str, *, low: int = 1, high: int | None = None) -> int:
    """An integer (not 200.5, not True) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{what} must be an integer, got {value!r}")
    v = int(value)
    if high is None and v < low:
        raise InputError(f"{what} must be at least {low}, got {v}")
    if high is not None and not low <= v <= high:
        raise InputError(f"{what} must be in [{low}, {high}], got {v}")
    return v
