"""Row-by-row input validation derived from a training profile: a bad row is a reason, never an exception.

The profile (``mg.drift.profile`` of the training features) knows each feature's kind,
range and categories. A row is refused when a feature is missing, not a real number, NaN
or infinite, too large for the model's input type (1e39 is finite in float64 but infinite
in float32), outside the training range by more than ``tolerance`` of that range, or a
category never seen in training (when the profile saw every category). Without a profile
only the shape, finiteness and input type are checked. Checks run on the whole batch at
once; only refused rows cost a Python loop (to word their reasons).

What is a batch: a numpy array or torch tensor (a 1-D one is one row), a DataFrame (columns
by name), a Series (one row), or an iterable of rows. Anything else (None, a scalar, a
string, a mapping, complex or date-time arrays) is an :class:`~mathguard.InputError`
naming ``x``. A batch of no rows is a batch: it gets an empty answer.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from mathguard.drift.accumulators import CategoricalFeature, NumericFeature, category_labels
from mathguard.drift.profile import Profile
from mathguard.errors import InputError
from mathguard.params import NON_NEGATIVE, POSITIVE, declare

MAX_REASONS = 3  # worded per row; the rest are counted
#: Profiles label boolean columns 'True'/'False'; numeric input says 1/0 (labelled '1'/'0').
_BOOLEAN = {"1": "True", "0": "False"}


@dataclass
class Rows:
    """What validation made of a batch: float rows (NaN where unreadable), which are valid, and why not.

    ``readable`` rows can be fed to the model (finite, representable in its input type) even
    when validation refused them (outside the training range, say): the unguarded accuracy
    and the monitoring service use the model's answer there.
    """

    values: np.ndarray  # (N, d) float64
    valid: np.ndarray  # (N,) bool
    reasons: list[list[str]]
    readable: np.ndarray  # (N,) bool


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def batch_error(x: Any) -> str | None:
    """Why ``x`` is not a batch of rows at all (None when it is one)."""
    if x is None or isinstance(x, (str, bytes, bytearray, numbers.Number, Mapping)):
        return f"x must be a batch of rows (an array, a tensor, a DataFrame or a list of rows), got {type(x).__name__}"
    if isinstance(x, (np.ndarray, torch.Tensor)):
        if x.ndim == 0:
            return "x must be a batch of rows, got a 0-d array (a scalar)"
        kind = x.dtype.kind if isinstance(x, np.ndarray) else ("c" if x.is_complex() else "f")
        if kind == "c":
            return f"x holds complex numbers (dtype {x.dtype}); the guard takes real-valued rows"
        if kind in "mMV":
            return f"x must hold numbers, got dtype {x.dtype}"
        return None
    if not isinstance(x, (pd.DataFrame, pd.Series, Iterable)):
        return f"x must be a batch of rows (an array, a tensor, a DataFrame or a list of rows), got {type(x).__name__}"
    return None


def _numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column as float64 and where a present cell is not a real number (text, complex, a list...)."""
    if pd.api.types.is_bool_dtype(col.dtype) or (pd.api.types.is_numeric_dtype(col.dtype)
                                                  and not pd.api.types.is_complex_dtype(col.dtype)):
        v = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return v, np.zeros(len(v), bool)
    present = col.notna().to_numpy()
    if not pd.api.types.is_complex_dtype(col.dtype):
        num = pd.to_numeric(col, errors="coerce")
        if not pd.api.types.is_complex_dtype(num.dtype):
            v = num.to_numpy(dtype=np.float64, na_value=np.nan)
            return v, present & np.isnan(v)
    # a complex cell makes pandas read the whole column as complex (and garble the text): cell by cell
    v = np.array([_real(c) for c in col.tolist()], dtype=np.float64)
    return v, present & np.isnan(v)


def holds_rows(x: np.ndarray) -> bool:
    """Whether a 1-D object array is a list of rows (sequences) rather than one row of cells."""
    return any(isinstance(e, (list, tuple, np.ndarray)) for e in x)


def _real(cell: Any) -> float:
    if isinstance(cell, (bool, np.bool_)) or (isinstance(cell, numbers.Real)):
        return float(cell)
    if isinstance(cell, str):
        try:
            return float(cell)
        except ValueError:
            return np.nan
    return np.nan  # complex, bytes, containers, dates: not a real number


class RowValidator:
    """Checks batches of rows against ``profile`` (or only shape, finiteness and input type without one).

    ``limit`` is the largest magnitude the model's input type holds (float32: 3.4e38).
    """

    @declare(tolerance=NON_NEGATIVE, limit=POSITIVE)
    def __init__(self, n_features: int, profile: Profile | None = None, tolerance: float = 0.1, *,
                 limit: float = float(np.finfo(np.float32).max), input_type: str = "float32") -> None:
        if profile is not None and len(profile.features) != n_features:
            raise InputError(f"the profile has {len(profile.features)} features but one model input has "
                             f"{n_features} values")
        self.n_features, self.profile, self.tolerance = n_features, profile, float(tolerance)
        self.limit, self.input_type = float(limit), input_type
        self.names = list(profile.features) if profile is not None else [str(i) for i in range(n_features)]
        self.lo = np.full(n_features, -np.inf)
        self.hi = np.full(n_features, np.inf)
        self.categories: dict[int, set[str]] = {}
        for j, feat in enumerate(profile.features.values() if profile is not None else []):
            if isinstance(feat, NumericFeature) and feat.n > 0:
                span = feat.max - feat.min
                slack = self.tolerance * (span if span > 0 else max(abs(feat.max), abs(feat.min), 1.0))
                self.lo[j], self.hi[j] = feat.min - slack, feat.max + slack
            elif isinstance(feat, CategoricalFeature) and not feat.truncated:
                self.categories[j] = set(feat.counts)
        self.boolean = {j for j, seen in self.categories.items() if seen and seen <= {"True", "False"}}

    # ----------------------------------------------------------------- reading
    def _read(self, x: Any) -> tuple[np.ndarray, np.ndarray, list[list[str]], dict[int, np.ndarray]]:
        """(values, not-a-number mask, shape reasons, category labels of categorical columns)."""
        why = batch_error(x)
        if why:
            raise InputError(why)
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        if isinstance(x, pd.Series):
            x = x.to_frame().T
        if isinstance(x, np.ndarray) and not (x.ndim == 1 and x.dtype.kind == "O" and holds_rows(x)):
            x = (x.reshape(len(x), math.prod(x.shape[1:])) if x.ndim > 1 else x.reshape(1, -1) if x.size
                 else x.reshape(0, self.n_features))
            if x.dtype.kind in "fiub":
                return self._read_numbers(x.astype(np.float64))
        if isinstance(x, pd.DataFrame):
            missing = [c for c in self.names if c not in x.columns]
            frame = x.reindex(columns=self.names).reset_index(drop=True)
            shape = [[f"feature {c!r} missing" for c in missing[:MAX_REASONS]] for _ in range(len(frame))]
        else:
            table, shape = [], []
            for row in x:
                flat = np.asarray(row, dtype=object).ravel()
                ok = len(flat) == self.n_features
                table.append(list(flat) if ok else [np.nan] * self.n_features)
                shape.append([] if ok else [f"expected {self.n_features} features, got {len(flat)}"])
            frame = pd.DataFrame(table, columns=self.names, dtype=object)
        if not len(frame):
            return np.zeros((0, self.n_features)), np.zeros((0, self.n_features), bool), [], {}
        read = [_numbers(frame[c]) for c in self.names]
        values = np.column_stack([v for v, _ in read])
        not_number = np.column_stack([bad for _, bad in read])
        labels = {j: self._labels(frame[self.names[j]], j) for j in self.categories}
        return values, not_number, shape, labels

    def _read_numbers(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[str]],
                                                         dict[int, np.ndarray]]:
        n = len(flat)
        if flat.shape[1] != self.n_features:
            msg = f"expected {self.n_features} features, got {flat.shape[1]}"
            return (np.full((n, self.n_features), np.nan), np.zeros((n, self.n_features), bool),
                    [[msg] for _ in range(n)], {})
        labels = {j: self._labels(pd.Series(flat[:, j]), j) for j in self.categories}
        return flat, np.zeros(flat.shape, bool), [[] for _ in range(n)], labels

    def _labels(self, col: pd.Series, j: int) -> np.ndarray:
        """Category labels as the profile spells them: a boolean column's 1/0 are 'True'/'False'."""
        labels = category_labels(col)
        if j in self.boolean:
            labels = np.array([_BOOLEAN.get(lab, lab) if lab is not None else None for lab in labels], dtype=object)
        return labels

    # ----------------------------------------------------------------- checking
    def __call__(self, x: Any) -> Rows:
        values, not_number, shape, labels = self._read(x)
        n = len(values)
        with np.errstate(invalid="ignore"):
            huge = np.isfinite(values) & (np.abs(values) > self.limit)
            outside = np.isfinite(values) & ~huge & ((values < self.lo) | (values > self.hi))
        unseen = np.zeros_like(outside)
        for j, seen in self.categories.items():
            unseen[:, j] = [lab is not None and lab not in seen for lab in labels[j]]
        nan = np.isnan(values) & ~not_number
        unreadable = nan | np.isinf(values) | not_number | huge
        bad = unreadable | outside | unseen
        reasons = [list(r) for r in shape]
        blocked = np.array([bool(r) for r in shape], dtype=bool).reshape(n)
        for i in np.flatnonzero(bad.any(axis=1) & ~blocked):
            cols = np.flatnonzero(bad[i])
            for j in cols[:MAX_REASONS]:
                reasons[i].append(self._word(i, j, values, nan, not_number, huge, unseen, labels))
            if len(cols) > MAX_REASONS:
                reasons[i].append(f"… and {len(cols) - MAX_REASONS} more features")
        readable = ~blocked & ~unreadable.any(axis=1)
        return Rows(values, np.array([not r for r in reasons], dtype=bool).reshape(n), reasons, readable)

    def _word(self, i: int, j: int, values: np.ndarray, nan: np.ndarray, not_number: np.ndarray,
              huge: np.ndarray, unseen: np.ndarray, labels: dict[int, np.ndarray]) -> str:
        name = self.names[j]
        if nan[i, j]:
            return f"feature {name!r} = NaN"
        if unseen[i, j]:
            return f"feature {name!r} = {labels[j][i]!r} never seen in training"
        if not_number[i, j]:
            return f"feature {name!r} is not a number"
        v = values[i, j]
        if np.isinf(v):
            return f"feature {name!r} = {v:g}"
        if huge[i, j]:
            return f"feature {name!r} = {v:.4g} does not fit the model's input type {self.input_type}"
        feat = self.profile.features[name]
        return (f"feature {name!r} = {_fmt(v)} outside the training range [{_fmt(feat.min)}, {_fmt(feat.max)}] "
                f"(± {self.tolerance:.0%} slack)")
