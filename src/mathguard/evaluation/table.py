"""Read prediction columns from a CSV or Parquet file (the CLI's input format)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mathguard.errors import InputError
from mathguard.validate import readable_csv


def read_table(path: str) -> pd.DataFrame:
    """Load .csv or .parquet; other suffixes and unreadable files are user errors."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {path}")
    try:
        if p.suffix.lower() == ".parquet":
            return pd.read_parquet(p)
        if p.suffix.lower() in (".csv", ".txt"):
            with readable_csv(p):
                return pd.read_csv(p)
    except (ValueError, OSError) as exc:  # pyarrow's errors on a corrupt Parquet file
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    raise InputError(f"unsupported file type {p.suffix!r}; use .csv or .parquet")


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
