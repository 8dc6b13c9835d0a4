"""Row-by-row input validation derived from a training profile: a bad row is a reason, never an exception.

The profile (``mg.drift.profile`` of the training features) knows each feature's kind,
range and categories. A row is refused when a feature is missing, not a number, NaN or
infinite, outside the training range by more than ``tolerance`` of that range, or a
category never seen in training (when the profile saw every category). Without a
profile only the shape and finiteness are checked. Checks run on the whole batch at
once; only refused rows cost a Python loop (to word their reasons).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from mathguard.drift.accumulators import CategoricalFeature, NumericFeature, category_labels
from mathguard.drift.profile import Profile
from mathguard.errors import InputError
from mathguard.validate import finite

MAX_REASONS = 3  # worded per row; the rest are counted


@dataclass
class Rows:
    """What validation made of a batch: float rows (NaN where unreadable), which are valid, and why not."""

    values: np.ndarray  # (N, d) float64
    valid: np.ndarray  # (N,) bool
    reasons: list[list[str]]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


class RowValidator:
    """Checks batches of rows against ``profile`` (or only shape and finiteness without one)."""

    def __init__(self, n_features: int, profile: Profile | None = None, tolerance: float = 0.1) -> None:
        finite(tolerance, "tolerance", low=0)
        if profile is not None and len(profile.features) != n_features:
            raise InputError(f"the profile has {len(profile.features)} features but one model input has "
                             f"{n_features} values")
        self.n_features, self.profile, self.tolerance = n_features, profile, float(tolerance)
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

    # ----------------------------------------------------------------- reading
    def _read(self, x: Any) -> tuple[np.ndarray, np.ndarray, list[list[str]], dict[int, np.ndarray]]:
        """(values, not-a-number mask, shape reasons, category labels of categorical columns)."""
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        if isinstance(x, np.ndarray) and x.dtype.kind in "fiub":
            flat = (x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(1, -1)).astype(np.float64)
            n = len(flat)
            if flat.shape[1] != self.n_features:
                msg = f"expected {self.n_features} features, got {flat.shape[1]}"
                return (np.full((n, self.n_features), np.nan), np.zeros((n, self.n_features), bool),
                        [[msg] for _ in range(n)], {})
            labels = {j: category_labels(pd.Series(flat[:, j])) for j in self.categories}
            return flat, np.zeros(flat.shape, bool), [[] for _ in range(n)], labels
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
        values = np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
                                  for c in self.names]) if len(frame) else np.zeros((0, self.n_features))
        present = frame.notna().to_numpy()
        labels = {j: category_labels(frame[self.names[j]]) for j in self.categories}
        return values, present & np.isnan(values), shape, labels

    # ----------------------------------------------------------------- checking
    def __call__(self, x: Any) -> Rows:
        values, not_number, shape, labels = self._read(x)
        n = len(values)
        if n == 0:
            raise InputError("no rows given")
        with np.errstate(invalid="ignore"):
            outside = np.isfinite(values) & ((values < self.lo) | (values > self.hi))
        unseen = np.zeros_like(outside)
        for j, seen in self.categories.items():
            unseen[:, j] = [lab is not None and lab not in seen for lab in labels[j]]
        nan = np.isnan(values) & ~not_number
        bad = nan | np.isinf(values) | not_number | outside | unseen
        reasons = [list(r) for r in shape]
        blocked = np.array([bool(r) for r in shape], dtype=bool)
        for i in np.flatnonzero(bad.any(axis=1) & ~blocked):
            cols = np.flatnonzero(bad[i])
            for j in cols[:MAX_REASONS]:
                reasons[i].append(self._word(i, j, values, nan, not_number, unseen, labels))
            if len(cols) > MAX_REASONS:
                reasons[i].append(f"… and {len(cols) - MAX_REASONS} more features")
        return Rows(values, np.array([not r for r in reasons], dtype=bool), reasons)

    def _word(self, i: int, j: int, values: np.ndarray, nan: np.ndarray, not_number: np.ndarray,
              unseen: np.ndarray, labels: dict[int, np.ndarray]) -> str:
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
        feat = self.profile.features[name]
        return (f"feature {name!r} = {_fmt(v)} outside the training range [{_fmt(feat.min)}, {_fmt(feat.max)}] "
                f"(± {self.tolerance:.0%} slack)")
