"""How a column becomes integer codes for the binned estimators: discrete values, or quantile bins.

Shared by the in-memory path (``relevance``) and the Dask path (``partitions``), which must
code every column alike, bit for bit.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from mathguard.errors import InputError

MAX_DISCRETE = 32  # a numeric column with at most this many distinct integer values is treated as discrete


def is_nominal(dtype: Any) -> bool:
    """Text, categorical and boolean columns are nominal: their codes have no order to bin."""
    return not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)


def numeric(col: pd.Series) -> np.ndarray:
    """A numeric column as float64, missing values as NaN (refused later with the non-finite ones)."""
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def integer_valued(col: np.ndarray) -> bool:
    return bool(np.all(col == np.round(col)))


def is_discrete(col: np.ndarray) -> bool:
    return integer_valued(col) and np.unique(col).size <= MAX_DISCRETE


def edge_ranks(n: int, bins: int) -> np.ndarray:
    """Ranks (in the sorted column) of the inner quantile edges, as numpy's ``method="lower"`` picks them.

    Edges that are data values chosen by rank, not interpolations, can be found exactly on
    partitioned data (``mathguard.info.partitions``), so both paths bin alike.
    """
    return np.unique(np.floor((n - 1) * np.linspace(0, 1, bins + 1)[1:-1]).astype(np.intp))


def binned(col: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin codes against sorted inner edges; a value equal to an edge goes up, so ties share one bin."""
    return np.searchsorted(edges, col, side="right")


def codes(col: np.ndarray, bins: int, nominal: bool = False) -> np.ndarray:
    """Integer codes of one column: its values if discrete (or nominal), else its quantile bin (ties share one)."""
    if nominal or is_discrete(col):
        return np.unique(col, return_inverse=True)[1]
    ranks = edge_ranks(col.size, bins)
    return binned(col, np.unique(np.partition(col, ranks)[ranks]))


def counts(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> np.ndarray:
    """The ka × kb contingency table of two code arrays."""
    return np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb)


def infer_task(kind: str, discrete: Callable[[], bool]) -> str:
    """``task="auto"``: labels (text, boolean) and integer targets with few levels are classes."""
    return "classification" if kind in "OUSb" or discrete() else "regression"


def check_target_varies(marginal: np.ndarray) -> None:
    if np.count_nonzero(marginal) < 2:
        raise InputError("y is constant: there is no information to measure")
