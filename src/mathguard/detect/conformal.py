"""Split-conformal thresholds and p-values: a false-alarm rate that holds for finite samples.

With n clean calibration scores and a new clean score exchangeable with them, the
new score is above the k-th smallest calibration score, k = ⌈(1 − α)(n + 1)⌉, with
probability at most α (Vovk et al.; Angelopoulos & Bates 2021). The conformal
p-value (1 + #{s_i ≥ s}) / (n + 1) is ≤ α exactly when that happens, so thresholding
scores and thresholding p-values are the same decision.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from mathguard.errors import InputError


def check_fpr(fpr: float, n: int) -> float:
    """fpr must lie in (0, 1) and be reachable with n calibration scores (fpr ≥ 1/(n+1))."""
    try:
        f = float(fpr)
    except (TypeError, ValueError):
        raise InputError(f"fpr must be a number in (0, 1), got {fpr!r}") from None
    if not 0 < f < 1:
        raise InputError(f"fpr must lie in (0, 1), got {fpr}")
    if Fraction(f) * (n + 1) < 1:
        need = math.ceil(1 / f - 1)
        raise InputError(f"fpr={f:g} needs at least {need} calibration inputs, got {n} "
                         f"(the smallest reachable fpr is 1/(n+1) = {1 / (n + 1):.3g})")
    return f


def conformal_rank(n: int, fpr: float) -> int:
    """k = ⌈(1 − fpr)(n + 1)⌉: the rank of the threshold among n calibration scores.

    The one computation of k, for the threshold and for the test that checks its promise.
    Exact arithmetic on the float given: (1 - 0.1) * 10 must be 9, not 9.000000000000002.
    """
    return math.ceil((1 - Fraction(check_fpr(fpr, n))) * (n + 1))


def conformal_threshold(sorted_scores: np.ndarray, fpr: float) -> float:
    """The ⌈(1 − fpr)(n + 1)⌉-th smallest calibration score: flag scores strictly above it."""
    return float(sorted_scores[conformal_rank(len(sorted_scores), fpr) - 1])


def conformal_p_values(sorted_scores: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(1 + #{calibration scores ≥ s}) / (n + 1) for each s."""
    n = len(sorted_scores)
    at_least = n - np.searchsorted(sorted_scores, scores, side="left")
    return (1.0 + at_least) / (n + 1.0)
