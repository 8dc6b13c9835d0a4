"""Binned feature relevance over a Dask DataFrame, equal to the in-memory binned path bit for bit.

Each pass maps every partition to a small summary that merges exactly (counts add, distinct
values unite, a few gathered values sort), so rows stay where they live: on the workers of
the active ``dask.distributed`` Client, else on Dask's default scheduler.

1. per column: rows, finiteness, integrality, up to 32 distinct values, min and max; this
   decides discrete versus binned columns and the task as one process would;
2. the quantile edges of the binned columns, which are order statistics (``edge_ranks``),
   by an exact distributed selection (``order_statistics``);
3. per feature a contingency table against the target codes. MI, G-test and Holm then run
   on the merged tables with the in-memory code.

Discrete and nominal features need no global coding: each partition returns its distinct
values with their rows of the table, and the driver lines them up (sorted values for
numbers, order of first appearance for labels, as ``pd.factorize`` over the whole column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mathguard.errors import InputError
from mathguard.info.binning import (MAX_DISCRETE, binned, check_target_varies, counts, edge_ranks, infer_task,
                                   integer_valued, is_nominal, numeric)
from mathguard.partitioned import map_partitions

_SPLIT = 128  # a narrowing pass splits each search interval at this many points by key and as many by value
_GATHER = 2048  # an interval holding at most this many values is fetched whole and the rank picked from it
_SIGN = 1 << 63


# --- pass 1: what each column is --------------------------------------------------------------------------


@dataclass
class _Numbers:
    """What the rows seen so far say about one numeric column; ``merge`` adds another partition's."""

    finite: bool
    integer: bool
    distinct: np.ndarray | None  # sorted distinct values; None once there are more than MAX_DISCRETE
    low: float
    high: float

    @classmethod
    def of(cls, v: np.ndarray) -> _Numbers:
        distinct = np.unique(v)
        return cls(bool(np.isfinite(v).all()), integer_valued(v),
                   distinct if distinct.size <= MAX_DISCRETE else None,
                   float(v.min()) if v.size else np.inf, float(v.max()) if v.size else -np.inf)

    def merge(self, other: _Numbers) -> _Numbers:
        both = None if self.distinct is None or other.distinct is None else np.union1d(self.distinct, other.distinct)
        return _Numbers(self.finite and other.finite, self.integer and other.integer,
                        both if both is not None and both.size <= MAX_DISCRETE else None,
                        min(self.low, other.low), max(self.high, other.high))

    @property
    def discrete(self) -> bool:
        """The in-memory ``is_discrete``: integer-valued with at most MAX_DISCRETE levels."""
        return self.integer and self.distinct is not None


@dataclass
class _Target:
    """The target column of one partition (or several merged): its dtype kind, numbers, and its classes."""

    kind: str
    numbers: _Numbers | None  # numeric targets only
    classes: np.ndarray | None  # sorted distinct values; None if capped and a partition had too many

    @classmethod
    def of(cls, raw: np.ndarray, capped: bool) -> _Target:
        numbers = _Numbers.of(raw.astype(np.float64)) if raw.dtype.kind in "biuf" else None
        classes = np.unique(raw)  # capped for a numeric target that may yet turn out continuous
        capped = capped and numbers is not None and classes.size > MAX_DISCRETE
        return cls(raw.dtype.kind, numbers, None if capped else classes)

    def merge(self, other: _Target) -> _Target:
        numbers = self.numbers.merge(other.numbers) if self.numbers is not None and other.numbers is not None else None
        classes = None if self.classes is None or other.classes is None else \
            np.unique(np.concatenate([self.classes, other.classes]))
        return _Target(self.kind, numbers, classes)


_Profile = tuple[int, list["_Numbers | bool"], _Target]  # rows; per feature numbers or "has missing"; target


def _profile(part: pd.DataFrame, features: list[Any], nominal: list[bool], target: Any, capped: bool) -> _Profile:
    """Pass 1 on one partition: numeric features summarised, nominal ones only checked for missing values."""
    cols = [bool(part[c].isna().any()) if nom else _Numbers.of(numeric(part[c])) for c, nom in zip(features, nominal)]
    return len(part), cols, _Target.of(np.asarray(part[target]), capped)


def _merge_profiles(profiles: list[_Profile]) -> _Profile:
    rows, cols, target = profiles[0]
    for other_rows, other_cols, other_target in profiles[1:]:
        rows += other_rows
        cols = [a or b if isinstance(a, bool) else a.merge(b) for a, b in zip(cols, other_cols)]
        target = target.merge(other_target)
    return rows, cols, target


# --- pass 2: exact order statistics ----------------------------------------------------------------------


def _keys(v: np.ndarray) -> np.ndarray:
    """uint64 keys ordered like the float64 values (−0.0 as +0.0): the search narrows integer intervals."""
    u = (np.asarray(v, dtype=np.float64) + 0.0).view(np.uint64)
    return np.where(u >> np.uint64(63), ~u, u | np.uint64(_SIGN))


def _value(key: int) -> float:
    bits = key ^ _SIGN if key & _SIGN else key ^ (2**64 - 1)
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def _splits(a: int, b: int) -> np.ndarray:
    """Inner split points of the key interval [a, b]: evenly spaced keys bound the number of passes (the
    interval shrinks _SPLIT-fold each time, ties included); evenly spaced values spread smooth data evenly."""
    by_key = np.array([a + i * (b - a + 1) // _SPLIT for i in range(1, _SPLIT)], dtype=np.uint64)
    by_value = _keys(2 * np.linspace(_value(a) / 2, _value(b) / 2, _SPLIT + 1)[1:-1])  # halves cannot overflow
    points = np.unique(np.concatenate([by_key, by_value]))
    return points[(points > a) & (points <= b)]


def _narrow(part: pd.DataFrame, requests: list[tuple[Any, int, int, np.ndarray | None]]) -> list[np.ndarray]:
    """For each (column, a, b, splits): the keys in [a, b] split into bins at ``splits`` counted, or, without
    splits, the keys themselves. Each column is sorted once."""
    keys = {c: np.sort(_keys(numeric(part[c]))) for c in dict.fromkeys(r[0] for r in requests)}
    out = []
    for column, a, b, splits in requests:
        s = keys[column]
        inside = s[np.searchsorted(s, np.uint64(a), "left"):np.searchsorted(s, np.uint64(b), "right")]
        out.append(inside if splits is None else
                   np.diff(np.concatenate([[0], np.searchsorted(inside, splits, "left"), [inside.size]])))
    return out


@dataclass
class _Hunt:
    """One wanted rank: it lies at ``rank`` among the ``count`` keys in [low, high]."""

    rank: int
    low: int
    high: int
    count: int


def _narrowed(h: _Hunt, per_bin: np.ndarray, splits: np.ndarray) -> _Hunt:
    """The hunt moved into the bin (between consecutive split points) that holds its rank."""
    below = np.cumsum(per_bin)
    k = int(np.searchsorted(below, h.rank, "right"))
    starts = [h.low] + [int(s) for s in splits]
    ends = [int(s) - 1 for s in splits] + [h.high]
    return _Hunt(h.rank - (int(below[k - 1]) if k else 0), starts[k], ends[k], int(per_bin[k]))


def order_statistics(parts: list[Any], columns: Sequence[Any], ranks: np.ndarray, n: int,
                     lows: Sequence[float], highs: Sequence[float]) -> list[np.ndarray]:
    """The values at ``ranks`` of each sorted column (finite, ``n`` rows, range [low, high]), computed exactly.

    Each pass counts, per search interval, the keys in each of ≤ 2·_SPLIT bins and keeps the
    bin holding the rank; an interval down to _GATHER values is fetched and the rank picked.
    Only counts and those few values travel; ranks sharing an interval share its counts.
    """
    bounds = [[int(k) for k in _keys(np.array([lo, hi]))] for lo, hi in zip(lows, highs)]
    hunts = {(j, int(r)): _Hunt(int(r), a, b, n) for j, (a, b) in enumerate(bounds) for r in ranks}
    found: dict[tuple[int, int], float] = {}
    while hunts:
        for at in [at for at, h in hunts.items() if h.low == h.high]:  # one key left: it is the value
            found[at] = _value(hunts.pop(at).low)
        groups: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
        for at, h in hunts.items():
            groups.setdefault((at[0], h.low, h.high), []).append(at)
        requests = [(columns[j], a, b, None if hunts[ats[0]].count <= _GATHER else _splits(a, b))
                    for (j, a, b), ats in groups.items()]
        answers = map_partitions(_narrow, parts, requests) if requests else []
        for i, ((_, _, _, splits), ats) in enumerate(zip(requests, groups.values())):
            pooled = [ans[i] for ans in answers]
            if splits is None:
                keys = np.sort(np.concatenate(pooled))
                for at in ats:
                    found[at] = _value(int(keys[hunts.pop(at).rank]))
            else:
                per_bin = np.sum(pooled, axis=0)
                for at in ats:
                    hunts[at] = _narrowed(hunts[at], per_bin, splits)
    return [np.array([found[(j, int(r))] for r in ranks]) for j in range(len(columns))]


# --- pass 3: contingency tables -------------------------------------------------------------------------


@dataclass
class _Coder:
    """Codes of a column from sorted values: the index of each value, or its bin against inner edges."""

    values: np.ndarray
    edges: bool

    def __call__(self, v: np.ndarray) -> np.ndarray:
        return binned(v, self.values) if self.edges else np.searchsorted(self.values, v)

    @property
    def size(self) -> int:
        return self.values.size + 1 if self.edges else self.values.size


def _tables(part: pd.DataFrame, features: list[Any], coders: list[_Coder | str], target: Any,
            target_coder: _Coder, target_numeric: bool) -> list[Any]:
    """Pass 3 on one partition: per feature its table against the target codes; a discrete or nominal
    feature's comes with its own distinct values (its rows), to be lined up on the driver."""
    raw = np.asarray(part[target])
    y = target_coder(raw.astype(np.float64) if target_numeric else raw)
    ky = target_coder.size
    out: list[Any] = []
    for column, coder in zip(features, coders):
        if isinstance(coder, _Coder):
            out.append(counts(coder(numeric(part[column])), y, coder.size, ky))
            continue
        if coder == "nominal":
            local, levels = pd.factorize(part[column])
            levels = np.asarray(levels, dtype=object)
        else:
            levels, local = np.unique(numeric(part[column]), return_inverse=True)
        out.append((levels, counts(local, y, levels.size, ky)))
    return out


def _line_up(pieces: list[tuple[np.ndarray, np.ndarray]], nominal: bool) -> np.ndarray:
    """One table from each partition's (levels, rows): levels sorted (numbers) or by first appearance (labels)."""
    levels = pd.unique(np.concatenate([lv for lv, _ in pieces])) if nominal else \
        np.unique(np.concatenate([lv for lv, _ in pieces]))
    index = pd.Index(levels)
    table = np.zeros((levels.size, pieces[0][1].shape[1]), dtype=np.int64)
    for lv, rows in pieces:
        table[index.get_indexer(lv)] += rows
    return table


# --- the driver -----------------------------------------------------------------------------------------


def _columns(ddf: Any, y: Any, feature_names: Sequence[str] | None) -> tuple[list[Any], list[str]]:
    """The feature columns (own labels) and their names, after checking the target names a column."""
    if not (hasattr(ddf, "columns") and hasattr(ddf, "to_delayed")) or getattr(ddf, "ndim", 2) != 2:
        raise InputError(f"feature_relevance takes a Dask DataFrame, got {type(ddf).__name__}")
    if not isinstance(y, str):
        raise InputError(f"with a Dask DataFrame give y as the target's column name, got {type(y).__name__}")
    labels = {str(c): c for c in ddf.columns}
    if y not in labels:
        raise InputError(f"y={y!r} is not a column; columns are {list(labels)[:10]}")
    features = [c for name, c in labels.items() if name != y]
    names = [str(c) for c in features] if feature_names is None else [str(n) for n in feature_names]
    if not features:
        raise InputError("the Dask DataFrame has no feature columns besides the target")
    if len(names) != len(features):
        raise InputError(f"feature_names has {len(names)} names but X has {len(features)} feature columns")
    return features, names


def _check(rows: int, cols: list[Any], target: _Target, names: list[str], task: str) -> None:
    """The in-memory path's refusals, from the merged pass-1 summaries."""
    if rows < 2:
        raise InputError(f"X must have at least two rows, got {rows}")
    for name, c in zip(names, cols):
        if c is True:
            raise InputError(f"column {name!r} has missing values; impute or drop them first")
    if any(not isinstance(c, bool) and not c.finite for c in cols):
        raise InputError("X contains NaN or infinite values; impute or drop them first")
    if task == "regression" and target.numbers is None:
        raise InputError(f"y is not numeric (dtype kind {target.kind!r}); use task='classification'")
    if task == "regression" and not target.numbers.finite:
        raise InputError("y contains NaN or infinite values")


def _target_coder(target: _Target, task: str, edges: np.ndarray | None) -> _Coder:
    """Classes by their sorted values; a regression target like a feature: its values if discrete, else bins."""
    if task == "classification":
        return _Coder(target.classes, edges=False)
    return _Coder(edges, edges=True) if edges is not None else _Coder(target.numbers.distinct, edges=False)


def dask_tables(ddf: Any, y: Any, *, discrete_features: str | Sequence[int], task: str,
                feature_names: Sequence[str] | None, bins: int) -> tuple[list[np.ndarray], list[str], str]:
    """The binned path's contingency tables of a Dask DataFrame, its feature names and the task."""
    features, names = _columns(ddf, y, feature_names)
    nominal = [is_nominal(t) for t in ddf.dtypes[features]]
    parts = list(ddf.to_delayed())
    target_label = next(c for c in ddf.columns if str(c) == y)
    profiles = map_partitions(_profile, parts, features, nominal, target_label, task != "classification")
    rows, cols, target = _merge_profiles(profiles)
    if task == "auto":
        task = infer_task(target.kind, lambda: target.numbers is not None and target.numbers.discrete)
    _check(rows, cols, target, names, task)
    chosen = set() if isinstance(discrete_features, str) else set(discrete_features)
    # as ``codes`` does in memory: a column with few integer levels keeps them even when not listed
    discrete = [nom or j in chosen or c.discrete for j, (nom, c) in enumerate(zip(nominal, cols))]
    binned_cols = [j for j, d in enumerate(discrete) if not d]
    y_binned = task == "regression" and not target.numbers.discrete
    summaries = [cols[j] for j in binned_cols] + ([target.numbers] if y_binned else [])
    values = order_statistics(parts, [features[j] for j in binned_cols] + ([target_label] if y_binned else []),
                              edge_ranks(rows, bins), rows, [c.low for c in summaries], [c.high for c in summaries])
    edges = dict(zip(binned_cols, (np.unique(v) for v in values)))
    coders: list[_Coder | str] = [_Coder(edges[j], edges=True) if j in edges else "nominal" if nom else "discrete"
                                  for j, nom in enumerate(nominal)]
    y_coder = _target_coder(target, task, np.unique(values[-1]) if y_binned else None)
    pieces = map_partitions(_tables, parts, features, coders, target_label, y_coder, task == "regression")
    tables = [np.sum([p[j] for p in pieces], axis=0) if isinstance(coder, _Coder) else
              _line_up([p[j] for p in pieces], coder == "nominal") for j, coder in enumerate(coders)]
    check_target_varies(tables[0].sum(axis=0))
    return tables, names, task
