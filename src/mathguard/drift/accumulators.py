"""Per-column streaming accumulators of a drift profile; each one merges exactly with its twin.

Per numeric feature: a mergeable log-bucket sketch (``sketch.LogSketch``), exact moments
(count, mean, centred sum of squares, min, max; chunks merged with Chan's update) and
the missing / infinite counts. Per categorical feature: exact counts of up to
``max_categories`` values (the rarest values beyond that are folded into an "other"
count, the one merge that is not exact). Plus a sample of rows for the multivariate
test, chosen as the rows with the smallest content hash (a bottom-k sketch), so it too
merges exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from mathguard.drift.blas import split_sum_of_squares
from mathguard.drift.sketch import LogSketch, scratch
from mathguard.errors import InputError


@dataclass
class NumericFeature:
    """Sketch, exact moments and missing counts of one numeric column."""

    sketch: LogSketch
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    n_missing: int = 0
    n_infinite: int = 0
    kind: str = field(default="numeric", init=False)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0

    @property
    def n_rows(self) -> int:
        return self.n + self.n_missing + self.n_infinite

    def update(self, values: np.ndarray, dot_parts: int = 1) -> None:
        """Fold finite values in (missing and infinite ones are counted); ``dot_parts`` as
        ``blas.one_thread_dots`` gives it, so the sum of squares is the BLAS's own."""
        finite = values
        if not np.isfinite(values).all():
            nan = np.isnan(values)
            self.n_missing += int(nan.sum())
            self.n_infinite += int(np.isinf(values).sum())
            finite = values[np.isfinite(values)]
        if finite.size == 0:
            return
        self.sketch.update(finite)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = float(finite.mean())
            # Centred in a reused buffer: the same floats and the same dot as a fresh ``finite - mean``.
            centred = np.subtract(finite, mean, out=scratch(finite.size, 0).view(np.float64))
            m2 = split_sum_of_squares(centred, dot_parts)
        if not (math.isfinite(mean) and math.isfinite(m2)):
            raise InputError(f"values up to {np.abs(finite).max():.3g} are too large for float64 moments "
                             "(their squares overflow); rescale the column")
        self._merge_moments(finite.size, mean, m2, float(finite.min()), float(finite.max()))

    def _merge_moments(self, n_b: int, mean_b: float, m2_b: float, lo: float, hi: float) -> None:
        # Chan, Golub & LeVeque's pairwise update: exact to rounding, no catastrophic cancellation.
        n = self.n + n_b
        delta = mean_b - self.mean
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.mean += delta * n_b / n
        self.n = n
        self.min, self.max = min(self.min, lo), max(self.max, hi)

    def merge(self, other: "NumericFeature") -> "NumericFeature":
        out = NumericFeature(self.sketch.merge(other.sketch), self.n, self.mean, self.m2, self.min, self.max,
                             self.n_missing + other.n_missing, self.n_infinite + other.n_infinite)
        if other.n:
            out._merge_moments(other.n, other.mean, other.m2, other.min, other.max)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "n": self.n, "mean": self.mean, "m2": self.m2,
                "min": self.min if self.n else None, "max": self.max if self.n else None,
                "n_missing": self.n_missing, "n_infinite": self.n_infinite, "sketch": self.sketch.to_dict()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "NumericFeature":
        return cls(LogSketch.from_dict(doc["sketch"]), int(doc["n"]), float(doc["mean"]), float(doc["m2"]),
                   math.inf if doc["min"] is None else float(doc["min"]),
                   -math.inf if doc["max"] is None else float(doc["max"]),
                   int(doc["n_missing"]), int(doc["n_infinite"]))


@dataclass
class CategoricalFeature:
    """Exact value counts of one categorical column (values as strings)."""

    max_categories: int = 1000
    counts: dict[str, int] = field(default_factory=dict)
    n_missing: int = 0
    n_other: int = 0  # values folded away once more than max_categories were seen
    kind: str = field(default="categorical", init=False)

    @property
    def n(self) -> int:
        return sum(self.counts.values()) + self.n_other

    @property
    def n_rows(self) -> int:
        return self.n + self.n_missing

    @property
    def truncated(self) -> bool:
        return self.n_other > 0

    def update(self, values: pd.Series) -> None:
        labels = category_labels(values)
        present = labels[labels != None]  # noqa: E711 (elementwise comparison on an object array)
        self.n_missing += len(labels) - len(present)
        keys, counts = np.unique(present.astype(str), return_counts=True)
        self._add(dict(zip(keys.tolist(), counts.tolist())), 0)

    def _add(self, counts: dict[str, int], other: int) -> None:
        for key, c in counts.items():
            self.counts[key] = self.counts.get(key, 0) + int(c)
        self.n_other += other
        if len(self.counts) > self.max_categories:
            ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
            self.counts = dict(ranked[: self.max_categories])
            self.n_other += sum(c for _, c in ranked[self.max_categories:])

    def merge(self, other: "CategoricalFeature") -> "CategoricalFeature":
        out = CategoricalFeature(max(self.max_categories, other.max_categories), dict(self.counts),
                                 self.n_missing + other.n_missing, self.n_other)
        out._add(other.counts, other.n_other)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "max_categories": self.max_categories, "counts": self.counts,
                "n_missing": self.n_missing, "n_other": self.n_other}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "CategoricalFeature":
        return cls(int(doc["max_categories"]), {str(k): int(v) for k, v in doc["counts"].items()},
                   int(doc["n_missing"]), int(doc["n_other"]))


Feature = NumericFeature | CategoricalFeature


@dataclass
class RowSample:
    """The ``size`` distinct rows with the smallest content hashes: a uniform sample that merges exactly."""

    size: int
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def update(self, frame: pd.DataFrame) -> None:
        if self.size == 0 or frame.empty:
            return
        self.update_hashed(pd.util.hash_pandas_object(frame, index=False).to_numpy(), frame.iloc.__getitem__)

    def update_hashed(self, h: np.ndarray, rows: Callable[[np.ndarray], pd.DataFrame]) -> None:
        """``update`` from the chunk's row hashes ``h``: ``rows(take)`` gives only the rows kept, as stored."""
        if self.size == 0 or len(h) == 0:
            return
        take = np.argpartition(h, self.size)[: self.size] if len(h) > self.size else np.arange(len(h))
        picked = rows(take)
        self._keep(pd.concat([self.rows, picked], ignore_index=True) if len(self.rows) else
                   picked.reset_index(drop=True), np.concatenate([self.hashes, h[take]]))

    def _keep(self, rows: pd.DataFrame, hashes: np.ndarray) -> None:
        _, first = np.unique(hashes, return_index=True)  # sorted by hash, duplicates (equal rows) once
        first = first[: self.size]
        self.rows, self.hashes = rows.iloc[first].reset_index(drop=True), hashes[first]

    def merge(self, other: "RowSample") -> "RowSample":
        out = RowSample(min(self.size, other.size))
        frames = [f for f in (self.rows, other.rows) if len(f)]
        if frames:
            out._keep(pd.concat(frames, ignore_index=True), np.concatenate([self.hashes, other.hashes]))
        return out

    def to_dict(self) -> dict[str, Any]:
        cols = {c: [None if (isinstance(v, float) and not math.isfinite(v)) or v is None or v is pd.NA else
                    (v.item() if hasattr(v, "item") else v) for v in self.rows[c].tolist()]
                for c in self.rows.columns}
        return {"size": self.size, "hashes": [str(h) for h in self.hashes.tolist()], "columns": cols}

    @classmethod
    def from_dict(cls, doc: dict[str, Any], kinds: dict[str, str]) -> "RowSample":
        rows = pd.DataFrame(doc["columns"])
        for c in rows.columns:
            if kinds.get(c) == "numeric":
                rows[c] = pd.to_numeric(rows[c], errors="coerce").astype(np.float64)
        return cls(int(doc["size"]), rows, np.array([int(h) for h in doc["hashes"]], dtype=np.uint64))


def combine_row_hashes(columns: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """Row hashes from per-column hashes (``pd.util.hash_array``), as ``pd.util.hash_pandas_object(frame,
    index=False)`` combines them (CPython's tuple hash); written into ``out`` when given."""
    mult = np.uint64(1000003)
    if out is None:
        out = np.empty(len(columns[0]), dtype=np.uint64)
    out[...] = 0x345678
    for i, a in enumerate(columns):
        out ^= a
        out *= mult
        mult += np.uint64(82520 + 2 * (len(columns) - i))
    out += np.uint64(97531)
    return out


_NAN_BITS = np.array(np.nan).view(np.uint64)
_NEG_ZERO_BITS = np.array(-0.0).view(np.uint64)


def hash_floats(values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``pd.util.hash_array`` of float64 ``values``, written into ``out`` (uint64).

    Why not pandas': it allocates four temporaries the size of the column, whose page faults cost more
    than the hashing; here the shifts go through one reused buffer. Same canonical NaN and -0.0, same mix.
    """
    np.copyto(out, values.view(np.uint64))
    nan = np.isnan(values)
    if nan.any():
        out[nan] = _NAN_BITS
    out[out == _NEG_ZERO_BITS] = 0
    tmp = scratch(len(out), 1).view(np.uint64)
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB), (31, None)):
        np.right_shift(out, np.uint64(shift), out=tmp)
        out ^= tmp
        if mult is not None:
            out *= np.uint64(mult)
    return out


def _label(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))  # 3.0 and 3 are one category, whichever dtype a chunk arrived in
    return str(value.item() if isinstance(value, np.generic) else value)


def category_labels(col: pd.Series) -> np.ndarray:
    """Each value as its category label (a string), None where missing; labels are computed once per distinct value."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    labels = np.array([_label(v) for v in uniques] + [None], dtype=object)
    return labels[codes]  # code -1 (missing) picks the trailing None


def is_numeric(dtype: Any) -> bool:
    """Whether a column of this dtype gets a ``NumericFeature`` (booleans are categories, not 0/1 numbers)."""
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
