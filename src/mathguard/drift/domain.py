"""Multivariate drift: can a classifier tell reference rows from current rows?

Per-feature tests miss a change in how features move together (a correlation that
flips, a cluster that appears). A gradient-boosted classifier trained to separate the
two row samples catches it: its cross-validated ROC AUC is 0.5 when the joint
distributions agree and approaches 1 as they separate. The null spread of the AUC is
the Mann–Whitney standard error sqrt((n₀+n₁+1)/(12 n₀ n₁)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

_MAX_CATEGORIES = 250  # HistGradientBoosting's native categorical support stops at 255 levels


@dataclass(frozen=True)
class DomainAUC:
    auc: float
    null_se: float
    n_reference: int
    n_current: int

    @property
    def z(self) -> float:
        return (self.auc - 0.5) / self.null_se


def _encode(ref: pd.DataFrame, cur: pd.DataFrame, kinds: dict[str, str]) -> tuple[np.ndarray, list[bool]]:
    """Stack both samples; categorical columns become shared integer codes (NaN where missing)."""
    both = pd.concat([ref, cur], ignore_index=True)
    cols, is_cat = [], []
    for name, kind in kinds.items():
        col = both[name]
        if kind == "numeric":
            cols.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
            is_cat.append(False)
        else:
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            cols.append(np.where(codes < 0, np.nan, codes).astype(np.float64))
            is_cat.append(len(uniques) <= _MAX_CATEGORIES)
    return np.column_stack(cols), is_cat


SMALL = 20_000  # rows in both samples below which the classifier runs single-threaded


def domain_auc(ref: pd.DataFrame, cur: pd.DataFrame, kinds: dict[str, str], random_state: int = 0,
               folds: int = 5) -> DomainAUC | None:
    """Out-of-fold AUC of a reference-vs-current classifier; None when either sample is too small."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    n0, n1 = len(ref), len(cur)
    if min(n0, n1) < 2 * folds or not kinds:
        return None
    X, is_cat = _encode(ref, cur, kinds)
    y = np.r_[np.zeros(n0), np.ones(n1)]
    clf = HistGradientBoostingClassifier(max_iter=60, learning_rate=0.1, max_leaf_nodes=15,
                                         categorical_features=is_cat if any(is_cat) else None,
                                         early_stopping=False, random_state=random_state)
    cv = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    # On a few thousand rows OpenMP's thread start-up costs more than the trees (3x slower on 2 busy cores).
    with threadpool_limits(1 if n0 + n1 < SMALL else None):
        score = cross_val_predict(clf, X, y, cv=cv, method="predict_proba")[:, 1]
    return DomainAUC(float(roc_auc_score(y, score)), math.sqrt((n0 + n1 + 1) / (12 * n0 * n1)), n0, n1)
