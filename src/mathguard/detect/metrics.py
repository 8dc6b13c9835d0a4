"""How well scores separate clean (negative) from shifted or attacked (positive) inputs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from mathguard.errors import InputError


@dataclass(frozen=True)
class DetectionScores:
    """AUROC, average precision (AUPR, positives = shifted), FPR at 95 % TPR, TPR at a threshold."""

    auroc: float
    aupr: float
    fpr_at_95tpr: float
    tpr: float  # at the calibrated threshold (nan without one)
    fpr: float  # on these clean inputs at that threshold
    n_clean: int
    n_shifted: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scores(a: Any, name: str) -> np.ndarray:
    s = np.asarray(a, dtype=np.float64).ravel()
    if len(s) == 0:
        raise InputError(f"{name} is empty")
    if not np.isfinite(s).all():
        raise InputError(f"{name} contains NaN or Inf")
    return s


def detection_scores(clean: Any, shifted: Any, *, threshold: float | None = None) -> DetectionScores:
    """Separation of ``shifted`` scores from ``clean`` ones (higher score = flagged)."""
    neg, pos = _scores(clean, "clean scores"), _scores(shifted, "shifted scores")
    n, p = len(neg), len(pos)
    # Mann–Whitney: AUROC = P(pos > neg) + ½ P(tie), from mid-ranks.
    ranks = rankdata(np.concatenate([pos, neg]))
    auroc = (ranks[:p].sum() - p * (p + 1) / 2) / (p * n)
    # Average precision: precision at each distinct threshold, weighted by the recall it adds.
    order = np.argsort(-np.concatenate([pos, neg]), kind="stable")
    values = np.concatenate([pos, neg])[order]
    hits = np.concatenate([np.ones(p), np.zeros(n)])[order]
    last = np.r_[np.diff(values) != 0, True]  # end of each tie group
    tp, fp = np.cumsum(hits)[last], np.cumsum(1 - hits)[last]
    recall_gain = np.diff(np.r_[0.0, tp]) / p
    aupr = float((recall_gain * tp / (tp + fp)).sum())
    # The largest threshold that still flags ≥ 95 % of positives.
    t95 = np.sort(pos)[p - math.ceil(0.95 * p - 1e-9)]
    fpr95 = float((neg >= t95).mean())
    tpr = fpr = math.nan
    if threshold is not None:
        tpr, fpr = float((pos > threshold).mean()), float((neg > threshold).mean())
    return DetectionScores(float(auroc), aupr, fpr95, tpr, fpr, n, p)


def roc_points(clean: np.ndarray, shifted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct threshold, from (0, 0) to (1, 1), for plotting."""
    values = np.concatenate([shifted, clean])
    hits = np.concatenate([np.ones(len(shifted)), np.zeros(len(clean))])
    order = np.argsort(-values, kind="stable")
    last = np.r_[np.diff(values[order]) != 0, True]
    tp, fp = np.cumsum(hits[order])[last], np.cumsum(1 - hits[order])[last]
    return np.r_[0.0, fp / len(clean)], np.r_[0.0, tp / len(shifted)]
