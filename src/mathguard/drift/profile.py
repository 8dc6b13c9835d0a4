"""A reference profile of a data set, built in one streaming pass, stored as versioned JSON.

A ``Profile`` holds one mergeable accumulator per column (``accumulators``: a sketch and
exact moments per numeric feature, exact counts per categorical one), the predicted-class
counts and the prediction entropy (bits) when probabilities are given, and a row sample
for the multivariate test. ``profile()`` builds one chunk by chunk (a Dask DataFrame
partition by partition, through ``mathguard.partitioned``); ``storage`` writes and reads it.

Every part merges: ``profile(a) + profile(b)`` equals ``profile(concat(a, b))``. The one
exception is a categorical feature with more than ``max_categories`` values, whose
rarest values are folded into an "other" count (the profile says so).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from mathguard.drift.accumulators import (CategoricalFeature, Feature, NumericFeature, RowSample, category_labels,
                                          combine_row_hashes, hash_floats, is_numeric)
from mathguard.drift.blas import one_thread_dots
from mathguard.drift.frames import iter_frames
from mathguard.drift.sketch import MAX_LEVEL, LogSketch
from mathguard.drift.storage import (SCHEMA, check_schema, feature_from_dict, read_document, same_document,
                                     write_document)
from mathguard.errors import InputError
from mathguard.info.divergence import entropy
from mathguard.partitioned import is_dask, merge_partitions
from mathguard.validate import probabilities
from mathguard.params import COUNT, Int, Optional, declare


@dataclass(eq=False)
class Profile:
    """What ``drift.compare`` needs to know about a reference data set (and its model's predictions)."""

    features: dict[str, Feature]
    sample: RowSample
    n_rows: int = 0
    n_classes: int | None = None
    prediction: CategoricalFeature | None = None
    entropy: NumericFeature | None = None

    def __repr__(self) -> str:
        names = list(self.features)
        shown = ", ".join(names[:5]) + (f", … (+{len(names) - 5})" if len(names) > 5 else "")
        kinds = [f.kind for f in self.features.values()]
        return (f"Profile({self.n_rows} rows; {kinds.count('numeric')} numeric, {kinds.count('categorical')} "
                f"categorical features: {shown}; "
                + (f"predictions of {self.n_classes} classes" if self.n_classes else "no predictions")
                + f"; sample of {len(self.sample.rows)} rows)")

    # ---------------------------------------------------------------- building
    def update(self, frame: pd.DataFrame, proba: np.ndarray | None = None) -> None:
        """Fold one chunk in; its columns must match the profile's."""
        if list(frame.columns) != list(self.features):
            raise InputError(f"chunk columns {list(frame.columns)[:8]} differ from the profile's "
                             f"{list(self.features)[:8]}")
        if (proba is None) != (self.n_classes is None):
            raise InputError("give proba for every chunk or for none")
        if proba is not None and proba.shape != (len(frame), self.n_classes):
            raise InputError(f"proba has shape {proba.shape}; expected ({len(frame)}, {self.n_classes})")
        sampled = self.sample.size > 0 and len(frame) > 0
        # Categorical columns as the sample stores them (labels), in one frame as _sample_view builds them.
        cats = pd.DataFrame({name: category_labels(frame[name]) for name, feat in self.features.items()
                             if not isinstance(feat, NumericFeature)}, index=frame.index) if sampled else None

        # Every column's value hashes, one row each: one large buffer rather than a fresh array per column.
        hashes = np.empty((len(self.features), len(frame)), dtype=np.uint64) if sampled else None

        def fold(i: int, name: str, feat: Feature) -> None:
            """Fold one column in and hash its values for the row sample (while they are in cache)."""
            if isinstance(feat, NumericFeature):
                values = _numeric_column(frame[name], name, self.n_rows)
                try:
                    feat.update(values, parts)
                except InputError as exc:
                    raise InputError(f"column {name!r}: {exc}") from None
                if hashes is not None:
                    hash_floats(values, hashes[i])
                return
            feat.update(frame[name])
            if hashes is not None:
                hashes[i] = pd.util.hash_array(cats[name]._values)  # type: ignore[index]

        # Columns are independent and numpy releases the GIL in the heavy loops: one thread per core (the BLAS
        # held to one, its dot products split as it would: see blas.py).
        with one_thread_dots() as parts:
            list(_pool().map(fold, range(len(self.features)), self.features.keys(), self.features.values()))
            if proba is not None and self.entropy is not None:
                self.entropy.update(np.asarray(entropy(proba, base=2), dtype=np.float64), parts)
        if hashes is not None:
            self.sample.update_hashed(_row_hashes(list(hashes)),
                                      lambda take: _sample_rows(frame, cats, self.features, take))
        if proba is not None:
            assert self.prediction is not None
            self.prediction.update(pd.Series(proba.argmax(axis=1)))
        self.n_rows += len(frame)

    def merge(self, other: "Profile") -> "Profile":
        """The profile of both data sets together."""
        if not isinstance(other, Profile):
            raise InputError(f"a Profile can only be merged with another Profile, not {type(other).__name__}")
        if list(self.features) != list(other.features) or any(
                self.features[k].kind != other.features[k].kind for k in self.features):
            raise InputError("profiles have different columns or column kinds and cannot be merged")
        if self.n_classes != other.n_classes:
            raise InputError(f"profiles disagree on the number of classes ({self.n_classes} vs {other.n_classes})")
        merged = {k: f.merge(other.features[k]) for k, f in self.features.items()}  # type: ignore[arg-type]
        return Profile(merged, self.sample.merge(other.sample), self.n_rows + other.n_rows, self.n_classes,
                       None if self.prediction is None else self.prediction.merge(other.prediction),  # type: ignore
                       None if self.entropy is None else self.entropy.merge(other.entropy))  # type: ignore

    __add__ = merge

    def __eq__(self, other: object) -> bool:
        """Same content: counts, sketches and samples exactly, moments up to float rounding (1e-12 relative).

        So ``profile(a) + profile(b) == profile(concat(a, b))``: the merge is exact except for the
        last bits of the Chan-merged means and sums of squares.
        """
        if not isinstance(other, Profile):
            return NotImplemented
        return same_document(self.to_dict(), other.to_dict())

    # ---------------------------------------------------------------- storage
    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "n_rows": self.n_rows, "n_classes": self.n_classes,
                "features": {k: f.to_dict() for k, f in self.features.items()},
                "prediction": None if self.prediction is None else self.prediction.to_dict(),
                "entropy": None if self.entropy is None else self.entropy.to_dict(),
                "sample": self.sample.to_dict()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "Profile":
        check_schema(doc)
        try:
            features = {str(k): feature_from_dict(v) for k, v in doc["features"].items()}
            kinds = {k: f.kind for k, f in features.items()}
            return cls(features, RowSample.from_dict(doc["sample"], kinds), int(doc["n_rows"]),
                       doc["n_classes"],
                       None if doc["prediction"] is None else CategoricalFeature.from_dict(doc["prediction"]),
                       None if doc["entropy"] is None else NumericFeature.from_dict(doc["entropy"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"corrupt profile: {type(exc).__name__} {exc}") from None

    def save(self, path: "str | os.PathLike[str]") -> None:
        """Write the profile as JSON (atomically: a failure leaves no partial file)."""
        write_document(path, self.to_dict())

    @classmethod
    def load(cls, path: "str | os.PathLike[str]") -> "Profile":
        return cls.from_dict(read_document(path))


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="mathguard-profile")


def _numeric_column(col: pd.Series, name: str, offset: int) -> np.ndarray:
    try:
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise InputError(f"column {name!r} holds non-numeric values after row {offset}; "
                         "declare it categorical or clean it") from None


def _row_hashes(columns: list[np.ndarray], block: int = 65536) -> np.ndarray:
    """``pd.util.hash_pandas_object`` of the sample view, from its columns' hashes, in row blocks on the pool."""
    n = len(columns[0])
    out = np.empty(n, dtype=np.uint64)
    starts = range(0, n, block)
    list(_pool().map(lambda a: combine_row_hashes([c[a:a + block] for c in columns], out[a:a + block]), starts))
    return out


def _sample_rows(frame: pd.DataFrame, cats: pd.DataFrame, features: dict[str, Feature],
                 take: np.ndarray) -> pd.DataFrame:
    """``_sample_view(frame).iloc[take]``, converting only those rows."""
    picked = cats.iloc[take]
    out = {name: frame[name].iloc[take].to_numpy(dtype=np.float64, na_value=np.nan)
           if isinstance(feat, NumericFeature) else picked[name] for name, feat in features.items()}
    return pd.DataFrame(out, index=frame.index[take])


def _sample_view(frame: pd.DataFrame, features: dict[str, Feature]) -> pd.DataFrame:
    """Columns as the sample stores them: numeric as float64, categorical as strings (missing stays missing)."""
    out = {}
    for name, feat in features.items():
        col = frame[name]
        if isinstance(feat, NumericFeature):
            out[name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out[name] = category_labels(col)
    return pd.DataFrame(out, index=frame.index)


def _new_profile(frame: pd.DataFrame, categorical: Sequence[str], n_classes: int | None, max_buckets: int,
                 max_categories: int, sample_size: int, levels: dict[str, int], entropy_level: int) -> Profile:
    unknown = sorted(set(categorical) - set(frame.columns))
    if unknown:
        raise InputError(f"categorical names unknown columns {unknown[:5]}")
    features: dict[str, Feature] = {}
    for name in frame.columns:
        if name in categorical or not is_numeric(frame[name].dtype):
            features[name] = CategoricalFeature(max_categories)
        else:
            features[name] = NumericFeature(LogSketch(max_buckets, levels.get(name, MAX_LEVEL)))
    pred = None if n_classes is None else CategoricalFeature(max_categories)
    ent = None if n_classes is None else NumericFeature(LogSketch(max_buckets, entropy_level))
    return Profile(features, RowSample(sample_size), 0, n_classes, pred, ent)


def _proba_columns(proba: Any) -> list[str] | None:
    """The names of the probability columns when ``proba`` names them, else None."""
    return list(proba) if isinstance(proba, (list, tuple)) and proba and isinstance(proba[0], str) else None


@declare(max_buckets=Int(16), max_categories=COUNT, sample_size=Int(0), chunk_size=Optional(COUNT))
def profile(X: Any, proba: Any = None, *, categorical: Sequence[str] = (), columns: Sequence[str] | None = None,
            chunk_size: int | None = None, feature_names: Sequence[str] | None = None, max_buckets: int = 4096,
            max_categories: int = 1000, sample_size: int = 1000) -> Profile:
    """Profile ``X`` in one streaming pass.

    ``X``: array, DataFrame, CSV/Parquet path, an iterable of DataFrame chunks, or a Dask
    DataFrame (each partition is profiled where it lives and the profiles are merged).
    ``proba``: the model's predicted probabilities (n, K) for those rows, or a list of
    column names of ``X`` that hold them (they are then not profiled as features).
    Non-numeric and boolean columns, and those named in ``categorical``, are categorical.
    ``columns`` restricts the profile to those columns (in that order).
    """
    proba_cols = _proba_columns(proba)
    if is_dask(X):
        if proba is not None and proba_cols is None:
            raise InputError("with a Dask DataFrame, give proba as the names of its probability columns")
        return _profile_partitions(X, proba_cols, categorical=categorical, columns=columns, max_buckets=max_buckets,
                                   max_categories=max_categories, sample_size=sample_size)
    return stream_profile(iter_frames(X, chunk_size, feature_names), proba, categorical=categorical, columns=columns,
                          max_buckets=max_buckets, max_categories=max_categories, sample_size=sample_size)


def stream_profile(frames: Iterable[pd.DataFrame], proba: Any, *, categorical: Sequence[str],
                   columns: Sequence[str] | None, max_buckets: int, max_categories: int, sample_size: int,
                   levels: dict[str, int] | None = None, entropy_level: int = MAX_LEVEL) -> Profile:
    """``profile`` of DataFrame chunks; numeric sketches start at ``levels`` (by column; ``entropy_level`` for the
    prediction entropy) instead of full resolution.

    Why: ``compare`` reads the current sketches only at the reference's level, and a sketch capped there ends at
    exactly those buckets (the level reached is the finest that fits, coarsening commutes), without first
    searching the finer levels the reference never had.
    """
    proba_cols = _proba_columns(proba)
    proba_arr = None if proba is None or proba_cols else probabilities(proba, "proba")
    prof: Profile | None = None
    for frame in frames:
        chunk_proba = None
        if proba_cols is not None:
            missing = [c for c in proba_cols if c not in frame.columns]
            if missing:
                raise InputError(f"proba columns {missing[:5]} are not in the data")
            chunk_proba = probabilities(frame[proba_cols].to_numpy(dtype=np.float64), "proba columns")
            frame = frame.drop(columns=proba_cols)
        elif proba_arr is not None:
            start = 0 if prof is None else prof.n_rows
            chunk_proba = proba_arr[start : start + len(frame)]
            if len(chunk_proba) != len(frame):
                raise InputError(f"proba has {len(proba_arr)} rows but the data has more")
        if columns is not None:
            absent = [c for c in columns if c not in frame.columns]
            if absent:
                raise InputError(f"columns {absent[:5]} are not in the data")
            frame = frame[list(columns)]
        if prof is None:
            if frame.shape[1] == 0:
                raise InputError("the data has no feature columns")
            k = None if chunk_proba is None else chunk_proba.shape[1]
            prof = _new_profile(frame, categorical, k, max_buckets, max_categories, sample_size, levels or {},
                                entropy_level)
        prof.update(frame, chunk_proba)
    if prof is None or prof.n_rows == 0:
        raise InputError("the data is empty: no rows to profile")
    if proba_arr is not None and len(proba_arr) != prof.n_rows:
        raise InputError(f"proba has {len(proba_arr)} rows but the data has {prof.n_rows}")
    return prof


def _profile_partitions(ddf: Any, proba_cols: list[str] | None, **options: Any) -> Profile:
    """One profile per Dask partition on the worker that holds it, merged pairwise: exact, because merging is."""
    text = [str(c) for c, t in ddf.dtypes.items() if not is_numeric(t) and str(c) not in (proba_cols or [])]
    options["categorical"] = sorted(set(options["categorical"]) | set(text))  # one schema for every partition

    def part(frame: pd.DataFrame) -> Profile | None:
        return profile(frame, proba_cols, **options) if len(frame) else None

    def merge(a: Profile | None, b: Profile | None) -> Profile | None:
        return b if a is None else a if b is None else a.merge(b)

    result = merge_partitions(part, ddf.to_delayed(), merge)
    if result is None:
        raise InputError("the data is empty: no rows to profile")
    return result
