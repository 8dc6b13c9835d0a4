"""Prediction columns of a CSV or Parquet table read by mathguard.io.read_table (the CLI's input format)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mathguard.errors import InputError


def columns(df: pd.DataFrame, spec: str, option: str) -> np.ndarray:
    """One column (1-D) or a comma-separated list of columns (2-D), as float, or an error naming the option."""
    names = [c.strip() for c in spec.split(",") if c.strip()]
    missing = [c for c in names if c not in df.columns]
    if not names or missing:
        raise InputError(f"{option}: column(s) {missing or spec!r} not in the file; have {list(df.columns)}")
    block = df[names]
    if block.isna().any().any():
        raise InputError(f"{option}: column(s) {names} contain missing values")
    try:
        arr = block.to_numpy(dtype=np.float64)
    except ValueError:
        raise InputError(f"{option}: column(s) {names} are not numeric") from None
    return arr[:, 0] if arr.shape[1] == 1 else arr
