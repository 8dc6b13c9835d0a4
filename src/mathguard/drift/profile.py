"""A reference profile of a data set, built in one streaming pass, stored as versioned JSON.

Per numeric feature: a mergeable log-bucket sketch (``sketch.LogSketch``), exact moments
(count, mean, centred sum of squares, min, max; chunks merged with Chan's update) and
the missing / infinite counts. Per categorical feature: exact counts of up to
``max_categories`` values. With predicted probabilities: the predicted-class counts and
the prediction entropy (bits) as one more numeric sketch. Plus a sample of rows for
the multivariate test, chosen as the rows with the smallest content hash (a bottom-k
sketch), so it too merges exactly.

Every part merges: ``profile(a) + profile(b)`` equals ``profile(concat(a, b))``. The one
exception is a categorical feature with more than ``max_categories`` values, whose
rarest values are folded into an "other" count (the profile says so).
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mathguard.drift.frames import iter_frames
from mathguard.drift.sketch import LogSketch
from mathguard.errors import InputError
from mathguard.info.divergence import entropy
from mathguard.validate import integer, probabilities

SCHEMA = "mathguard.profile/1"
PREDICTION, ENTROPY = "prediction", "prediction_entropy"


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

    def update(self, values: np.ndarray) -> None:
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
            centred = finite - mean
            m2 = float(centred @ centred)
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


def _feature_from_dict(doc: dict[str, Any]) -> Feature:
    kinds = {"numeric": NumericFeature, "categorical": CategoricalFeature}
    if doc.get("kind") not in kinds:
        raise InputError(f"profile feature has unknown kind {doc.get('kind')!r}")
    return kinds[doc["kind"]].from_dict(doc)


@dataclass
class RowSample:
    """The ``size`` distinct rows with the smallest content hashes: a uniform sample that merges exactly."""

    size: int
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def update(self, frame: pd.DataFrame) -> None:
        if self.size == 0 or frame.empty:
            return
        h = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        take = np.argpartition(h, self.size)[: self.size] if len(h) > self.size else np.arange(len(h))
        self._keep(pd.concat([self.rows, frame.iloc[take]], ignore_index=True) if len(self.rows) else
                   frame.iloc[take].reset_index(drop=True), np.concatenate([self.hashes, h[take]]))

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


def _same(a: Any, b: Any) -> bool:
    """Structural equality of two to_dict() documents, floats compared to 1e-12 relative."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300) or (math.isnan(a) and math.isnan(b))
    return a == b


@dataclass(eq=False)
class Profile:
    """What ``drift.compare`` needs to know about a reference data set (and its model's predictions)."""

    features: dict[str, Feature]
    sample: RowSample
    n_rows: int = 0
    n_classes: int | None = None
    prediction: CategoricalFeature | None = None
    entropy: NumericFeature | None = None

    # ---------------------------------------------------------------- building
    def update(self, frame: pd.DataFrame, proba: np.ndarray | None = None) -> None:
        """Fold one chunk in; its columns must match the profile's."""
        if list(frame.columns) != list(self.features):
            raise InputError(f"chunk columns {list(frame.columns)[:8]} differ from the profile's "
                             f"{list(self.features)[:8]}")
        def fold(item: tuple[str, Feature]) -> None:
            name, feat = item
            if isinstance(feat, NumericFeature):
                values = _numeric_column(frame[name], name, self.n_rows)
                try:
                    feat.update(values)
                except InputError as exc:
                    raise InputError(f"column {name!r}: {exc}") from None
            else:
                feat.update(frame[name])

        # Columns are independent and numpy releases the GIL in the heavy loops: one thread per core.
        list(_pool().map(fold, self.features.items()))
        self.sample.update(_sample_view(frame, self.features))
        if (proba is None) != (self.n_classes is None):
            raise InputError("give proba for every chunk or for none")
        if proba is not None:
            if proba.shape != (len(frame), self.n_classes):
                raise InputError(f"proba has shape {proba.shape}; expected ({len(frame)}, {self.n_classes})")
            assert self.prediction is not None and self.entropy is not None
            self.prediction.update(pd.Series(proba.argmax(axis=1)))
            self.entropy.update(np.asarray(entropy(proba, base=2), dtype=np.float64))
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
        return _same(self.to_dict(), other.to_dict())

    # ---------------------------------------------------------------- storage
    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "n_rows": self.n_rows, "n_classes": self.n_classes,
                "features": {k: f.to_dict() for k, f in self.features.items()},
                "prediction": None if self.prediction is None else self.prediction.to_dict(),
                "entropy": None if self.entropy is None else self.entropy.to_dict(),
                "sample": self.sample.to_dict()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "Profile":
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
            raise InputError(f"not a mathguard profile (schema {found!r}; expected {SCHEMA!r})")
        try:
            features = {str(k): _feature_from_dict(v) for k, v in doc["features"].items()}
            kinds = {k: f.kind for k, f in features.items()}
            return cls(features, RowSample.from_dict(doc["sample"], kinds), int(doc["n_rows"]),
                       doc["n_classes"],
                       None if doc["prediction"] is None else CategoricalFeature.from_dict(doc["prediction"]),
                       None if doc["entropy"] is None else NumericFeature.from_dict(doc["entropy"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"corrupt profile: {type(exc).__name__} {exc}") from None

    def save(self, path: "str | os.PathLike[str]") -> None:
        """Write the profile as JSON (atomically: a failure leaves no partial file)."""
        from mathguard.report.report import write_atomic

        write_atomic(path, json.dumps(self.to_dict(), allow_nan=False, separators=(",", ":")))

    @classmethod
    def load(cls, path: "str | os.PathLike[str]") -> "Profile":
        if not os.path.isfile(path):
            raise InputError(f"no such file: {path}")
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
        except UnicodeDecodeError:
            raise InputError(f"{path} is not a profile: not UTF-8 text (a binary file?)") from None
        return cls.from_dict(doc)


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="mathguard-profile")


def _numeric_column(col: pd.Series, name: str, offset: int) -> np.ndarray:
    try:
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise InputError(f"column {name!r} holds non-numeric values after row {offset}; "
                         "declare it categorical or clean it") from None


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


def _is_numeric(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _new_profile(frame: pd.DataFrame, categorical: Sequence[str], n_classes: int | None, max_buckets: int,
                 max_categories: int, sample_size: int) -> Profile:
    unknown = sorted(set(categorical) - set(frame.columns))
    if unknown:
        raise InputError(f"categorical names unknown columns {unknown[:5]}")
    features: dict[str, Feature] = {}
    for name in frame.columns:
        if name in categorical or not _is_numeric(frame[name].dtype):
            features[name] = CategoricalFeature(max_categories)
        else:
            features[name] = NumericFeature(LogSketch(max_buckets))
    pred = None if n_classes is None else CategoricalFeature(max_categories)
    ent = None if n_classes is None else NumericFeature(LogSketch(max_buckets))
    return Profile(features, RowSample(sample_size), 0, n_classes, pred, ent)


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
    integer(sample_size, "sample_size", low=0)
    integer(max_buckets, "max_buckets", low=16)
    integer(max_categories, "max_categories")
    if chunk_size is not None:
        integer(chunk_size, "chunk_size")
    proba_cols = list(proba) if isinstance(proba, (list, tuple)) and proba and isinstance(proba[0], str) else None
    if type(X).__module__.startswith("dask."):
        if proba is not None and proba_cols is None:
            raise InputError("with a Dask DataFrame, give proba as the names of its probability columns")
        return _profile_dask(X, proba_cols, categorical=categorical, columns=columns, max_buckets=max_buckets,
                             max_categories=max_categories, sample_size=sample_size)
    proba_arr = None if proba is None or proba_cols else probabilities(proba, "proba")
    prof: Profile | None = None
    for frame in iter_frames(X, chunk_size, feature_names):
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
            prof = _new_profile(frame, categorical, k, max_buckets, max_categories, sample_size)
        prof.update(frame, chunk_proba)
    if prof is None or prof.n_rows == 0:
        raise InputError("the data is empty: no rows to profile")
    if proba_arr is not None and len(proba_arr) != prof.n_rows:
        raise InputError(f"proba has {len(proba_arr)} rows but the data has {prof.n_rows}")
    return prof


def _profile_dask(ddf: Any, proba_cols: list[str] | None, **options: Any) -> Profile:
    """One profile per partition on the Dask workers, merged pairwise: exact, because merging is."""
    import dask

    text = [str(c) for c, t in ddf.dtypes.items() if not _is_numeric(t) and str(c) not in (proba_cols or [])]
    options["categorical"] = sorted(set(options["categorical"]) | set(text))  # one schema for every partition

    def part(frame: pd.DataFrame) -> Profile | None:
        return profile(frame, proba_cols, **options) if len(frame) else None

    def merge(a: Profile | None, b: Profile | None) -> Profile | None:
        return b if a is None else a if b is None else a.merge(b)

    level = [dask.delayed(part)(p) for p in ddf.to_delayed()]
    while len(level) > 1:
        level = [dask.delayed(merge)(*level[i : i + 2]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    result = dask.compute(level[0])[0] if level else None
    if result is None:
        raise InputError("the data is empty: no rows to profile")
    return result
