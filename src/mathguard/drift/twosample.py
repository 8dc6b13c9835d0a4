"""Two-sample statistics on weighted points: one implementation for raw samples and for sketches.

A sketch is a set of bucket midpoints with counts, a raw sample is the same with counts
of one, so Kolmogorov–Smirnov and Wasserstein-1 are written once for weighted points
and give scipy's numbers exactly on raw data (tests check ``ks_2samp`` and
``wasserstein_distance``). Categorical frequencies go through scipy's chi-square test
of a 2×k contingency table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class TestResult:
    """A statistic and its p-value (NaN where the test does not apply)."""

    statistic: float
    p_value: float


def _cdfs(x: np.ndarray, wx: np.ndarray, y: np.ndarray, wy: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Support points (sorted union) and both empirical CDFs evaluated there."""
    support = np.union1d(x, y)

    def cdf(v: np.ndarray, w: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(w[order], dtype=np.float64)])
        return cum[np.searchsorted(v[order], support, side="right")] / cum[-1]

    return support, cdf(x, wx), cdf(y, wy)


def _weights(v: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return np.ones(len(v)) if w is None else np.asarray(w, dtype=np.float64)


def ks_test(x: np.ndarray, y: np.ndarray, wx: np.ndarray | None = None,
            wy: np.ndarray | None = None) -> TestResult:
    """Two-sided two-sample KS: sup |F_x − F_y| with Smirnov's asymptotic p-value.

    Weights are counts (a sketch's bucket counts); the sample sizes in the p-value are
    their sums. Tied values (and bucketed values) make the p-value conservative.
    """
    wx, wy = _weights(x, wx), _weights(y, wy)
    _, fx, fy = _cdfs(np.asarray(x, dtype=np.float64), wx, np.asarray(y, dtype=np.float64), wy)
    d = float(np.max(np.abs(fx - fy)))
    m, n = sorted([float(wx.sum()), float(wy.sum())], reverse=True)
    p = float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0.0, 1.0))
    return TestResult(d, p)


def wasserstein(x: np.ndarray, y: np.ndarray, wx: np.ndarray | None = None,
                wy: np.ndarray | None = None) -> float:
    """Wasserstein-1 (earth mover's) distance ∫ |F_x − F_y| dt between weighted samples."""
    wx, wy = _weights(x, wx), _weights(y, wy)
    support, fx, fy = _cdfs(np.asarray(x, dtype=np.float64), wx, np.asarray(y, dtype=np.float64), wy)
    return float(np.sum(np.abs(fx - fy)[:-1] * np.diff(support)))


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> TestResult:
    """Chi-square test of homogeneity on two count vectors over the same categories.

    Categories empty on both sides are dropped; with fewer than two left the test does
    not apply and the result is (0, 1).
    """
    table = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return TestResult(0.0, 1.0)
    res = stats.chi2_contingency(table, correction=False)
    return TestResult(float(res.statistic), float(res.pvalue))
