"""A mergeable histogram of one numeric feature with relative-accuracy buckets.

A value's bucket is read straight from its float64 bit pattern: the exponent and the
top ``level`` bits of the mantissa, signed by the value's sign. Buckets are therefore
fixed by the number system, not by the data, so two sketches of two halves add up to
exactly the sketch of the whole. A bucket spans at most 2^-level of its values'
magnitude (level 12: 0.024 %). When a sketch holds more than ``max_buckets`` buckets
it drops one mantissa bit (neighbouring buckets pair up); the level reached is the
largest that fits, which is a function of the data alone, so merging stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mathguard.errors import InputError

MAX_LEVEL = 12
_MANTISSA = 52


def bucket_keys(values: np.ndarray, level: int) -> np.ndarray:
    """Signed bucket key of each finite value: monotone in the value, 0 for zero."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    keys = values.view(np.int64) & np.int64(0x7FFF_FFFF_FFFF_FFFF)  # the magnitude's bits
    keys >>= _MANTISSA - level
    np.negative(keys, out=keys, where=np.signbit(values))
    return keys


def bucket_edges(keys: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper value of each bucket (lower < upper, in value order)."""
    mag = np.abs(keys)
    inner = (mag << (_MANTISSA - level)).view(np.float64)
    outer = ((mag + 1) << (_MANTISSA - level)).view(np.float64)
    inner = np.where(mag == 0, -outer, inner)  # the zero bucket straddles 0
    negative = keys < 0
    return np.where(negative, -outer, inner), np.where(negative, -inner, outer)


def _coarsen(keys: np.ndarray) -> np.ndarray:
    """Keys one level down: drop the last mantissa bit of the magnitude."""
    return np.where(keys < 0, -((-keys) >> 1), keys >> 1)


def _sum_by_key(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique, np.bincount(inverse, weights=counts, minlength=len(unique)).astype(np.int64)


@dataclass
class LogSketch:
    """Bucket keys (sorted) and their counts at a mantissa resolution ``level``."""

    max_buckets: int = 4096
    level: int = MAX_LEVEL
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if self.max_buckets < 16:
            raise InputError(f"max_buckets must be at least 16, got {self.max_buckets}")

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def update(self, values: np.ndarray) -> None:
        """Add finite values (the caller filters NaN/Inf)."""
        if values.size == 0:
            return
        keys, counts = np.unique(bucket_keys(values, self.level), return_counts=True)
        self._absorb(keys, counts)

    def merge(self, other: "LogSketch") -> "LogSketch":
        """A new sketch of both inputs' data; equal to sketching the concatenated data."""
        level = min(self.level, other.level)
        out = LogSketch(max(self.max_buckets, other.max_buckets), level)
        a, b = self.at_level(level), other.at_level(level)
        out._absorb(np.concatenate([a.keys, b.keys]), np.concatenate([a.counts, b.counts]))
        return out

    def at_level(self, level: int) -> "LogSketch":
        """This sketch with its buckets merged down to ``level`` (which must not exceed the current one)."""
        if level > self.level:
            raise InputError(f"cannot refine a sketch from level {self.level} to {level}")
        keys, counts = self.keys, self.counts
        for _ in range(self.level - level):
            keys = _coarsen(keys)
        if self.level != level:
            keys, counts = _sum_by_key(keys, counts)
        return LogSketch(self.max_buckets, level, keys, counts)

    def _absorb(self, keys: np.ndarray, counts: np.ndarray) -> None:
        self.keys, self.counts = _sum_by_key(np.concatenate([self.keys, keys]), np.concatenate([self.counts, counts]))
        while len(self.keys) > self.max_buckets and self.level > 0:
            self.level -= 1
            self.keys, self.counts = _sum_by_key(_coarsen(self.keys), self.counts)

    def midpoints(self) -> np.ndarray:
        """A representative value per bucket (its centre; exactly 0 for the zero bucket)."""
        lo, hi = bucket_edges(self.keys, self.level)
        return np.where(self.keys == 0, 0.0, (lo + hi) / 2)

    def quantile(self, q: "float | np.ndarray") -> np.ndarray:
        """Bucket midpoint at cumulative fraction q (relative error ≤ 2^-level)."""
        if self.n == 0:
            raise InputError("the sketch is empty")
        cum = np.cumsum(self.counts) / self.n
        idx = np.searchsorted(cum, np.clip(q, 0.0, 1.0), side="left")
        return self.midpoints()[np.minimum(idx, len(self.keys) - 1)]

    # ----------------------------------------------------------------- storage
    def to_dict(self) -> dict[str, Any]:
        # Keys are delta-encoded: consecutive buckets differ by small numbers, so JSON stays compact.
        return {"level": self.level, "max_buckets": self.max_buckets,
                "key_deltas": np.diff(self.keys, prepend=0).tolist(), "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "LogSketch":
        keys = np.cumsum(np.asarray(doc["key_deltas"], dtype=np.int64))
        counts = np.asarray(doc["counts"], dtype=np.int64)
        if len(keys) != len(counts) or (counts < 0).any() or (np.diff(keys) <= 0).any():
            raise InputError("corrupt sketch in profile: keys must increase and counts be non-negative")
        return cls(int(doc["max_buckets"]), int(doc["level"]), keys, counts)
