"""Any tabular input as a stream of pandas DataFrame chunks, keeping categorical columns.

The linear-algebra audit streams float blocks (``mathguard.data.source``); drift needs
string and boolean columns too, so it reads frames: arrays and frames are sliced, CSV and
Parquet files are streamed by ``mathguard.io.iter_table``, and an iterable of chunks (say
``pd.read_csv(..., chunksize=...)``) is passed through.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from mathguard.errors import InputError
from mathguard.io import iter_table

DEFAULT_CHUNK = 262_144


def _as_frame(chunk: Any, names: Sequence[str] | None) -> pd.DataFrame:
    if isinstance(chunk, pd.DataFrame):
        frame = chunk
    elif isinstance(chunk, pd.Series):
        frame = chunk.to_frame()
    else:
        try:
            arr = np.asarray(chunk)
        except ValueError:
            raise InputError("data is ragged: rows have different lengths") from None
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise InputError(f"data must be 2-D (rows × features); got shape {arr.shape}")
        frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    if names is not None and len(names) != frame.shape[1]:
        raise InputError(f"feature_names has {len(names)} names but the data has {frame.shape[1]} columns")
    labels = [str(n) for n in (frame.columns if names is None else names)]
    if labels != list(frame.columns):  # relabelling copies the frame: only when the names change
        frame = frame.set_axis(labels, axis=1)
    if frame.columns.has_duplicates:
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise InputError(f"column names repeat {dup[:5]}; names must be unique")
    return frame


def iter_frames(X: Any, chunk_size: int | None = None,
                feature_names: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
    """Yield DataFrame chunks of ``X`` (array, DataFrame, CSV/Parquet path, or an iterable of chunks)."""
    size = DEFAULT_CHUNK if chunk_size is None else int(chunk_size)
    if size < 1:
        raise InputError(f"chunk_size must be a positive integer; got {chunk_size!r}")
    if isinstance(X, (str, os.PathLike)):
        for frame in iter_table(X, size):
            yield _as_frame(frame, feature_names)
        return
    chunked = isinstance(X, Iterator) or (
        isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(c, pd.DataFrame) for c in X))
    if not chunked:
        frame = _as_frame(X, feature_names)
        for start in range(0, max(len(frame), 1), size):
            yield frame.iloc[start : start + size]
        return
    for chunk in X:
        yield _as_frame(chunk, feature_names)
