"""Turn numpy, pandas, scipy.sparse or a CSV/Parquet path into a re-iterable stream of float64 chunks.

Files are never loaded whole: CSV is streamed by ``mathguard.io.iter_table`` and Parquet row
group by row group through pyarrow, so the audit's memory is one chunk plus its p×p accumulators.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mathguard.errors import InputError
from mathguard.io import iter_table, parquet_file, table_files, table_head
from mathguard.partitioned import is_dask

@dataclass
class Source:
    """Column metadata plus a function that streams the numeric columns chunk by chunk.

    Each chunk holds the feature columns in ``names`` order and, when ``target_numeric``
    is true, the target as one extra last column.
    """

    names: list[str]
    chunks: Callable[[], Iterator[Any]]
    non_numeric: list[str] = field(default_factory=list)
    target: str | None = None
    target_numeric: bool = False
    sparse: bool = False
    kind: str = "array"
    nnz: int | None = None
    stored_bytes: int | None = None
    # Dask input: the partitions (delayed objects) and how one becomes a float block, so the
    # per-partition work runs where the data lives and only O(p²) summaries travel.
    partitions: list[Any] | None = None
    block: Callable[[Any], np.ndarray] | None = None


def default_chunk_size(p: int) -> int:
    """Rows per chunk so one float64 chunk is about 64 MiB."""
    return max(1024, (64 * 2**20) // (8 * max(p, 1)))


def _check_names(names: Sequence[Any], n_cols: int) -> list[str]:
    names = [str(n) for n in names]
    if len(names) != n_cols:
        raise InputError(f"feature_names has {len(names)} names but X has {n_cols} columns")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"feature_names repeats {dup[:5]}; names must be unique")
    return names


def _target_array(y: Any, n_rows: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.ndim != 1 or len(arr) != n_rows:
        raise InputError(f"y has shape {np.shape(y)} but X has {n_rows} rows")
    return arr


def _numeric_target(arr: np.ndarray) -> np.ndarray | None:
    """The target as float64 if it is numeric (or boolean); None for labels such as strings."""
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    return None


def _row_chunks(X: Any, size: int, extra: np.ndarray | None) -> Callable[[], Iterator[Any]]:
    def gen() -> Iterator[Any]:
        for i in range(0, X.shape[0], size):
            block = X[i : i + size]
            if sp.issparse(block):
                block = block.tocsr().astype(np.float64)
                if extra is not None:
                    block = sp.hstack([block, sp.csr_matrix(extra[i : i + size, None])], format="csr")
            else:
                block = np.asarray(block, dtype=np.float64)
                if extra is not None:
                    block = np.column_stack([block, extra[i : i + size]])
            yield block

    return gen


def _from_array(X: np.ndarray, y: Any, names: Sequence[Any] | None, size: int | None) -> Source:
    if X.ndim != 2:
        raise InputError(f"X must be 2-D (rows × features); got shape {X.shape}")
    if X.dtype.kind in "USO":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"X holds strings (dtype {X.dtype}); pass numeric features, or a DataFrame so "
                "non-numeric columns can be named and skipped"
            ) from None
    elif X.dtype.kind not in "biuf":
        raise InputError(f"X has unsupported dtype {X.dtype}; expected numbers")
    cols = _check_names(names if names is not None else [f"x{i}" for i in range(X.shape[1])], X.shape[1])
    return _in_memory(X, cols, y, size, "array")


def _in_memory(X: Any, cols: list[str], y: Any, size: int | None, kind: str) -> Source:
    """Shared tail of the array and sparse readers: optional target by name or by values."""
    target, extra = None, None
    if isinstance(y, str):
        if y not in cols:
            raise InputError(f"target {y!r} is not a column; columns are {cols[:10]}")
        j = cols.index(y)
        keep = [i for i in range(len(cols)) if i != j]
        col = X[:, j]
        extra = np.asarray(col.todense()).ravel() if sp.issparse(col) else np.asarray(col, dtype=np.float64)
        X, cols, target = X[:, keep], [cols[i] for i in keep], y
    elif y is not None:
        extra, target = _numeric_target(_target_array(y, X.shape[0])), "y"
    if X.shape[1] == 0:
        raise InputError("X has no feature columns")
    src = Source(names=cols, chunks=_row_chunks(X, size or default_chunk_size(X.shape[1]), extra),
                 target=target, target_numeric=extra is not None, sparse=sp.issparse(X), kind=kind)
    if src.sparse:
        src.nnz = int(X.nnz)
        src.stored_bytes = int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)
    return src


def _split_frame_columns(dtypes: pd.Series, target: str | None) -> tuple[list[str], list[str]]:
    numeric, other = [], []
    for name, dt in dtypes.items():
        if name == target:
            continue
        (numeric if pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt) else other).append(str(name))
    return numeric, other


def _frame_block(df: pd.DataFrame, cols: list[str], where: str) -> np.ndarray:
    try:
        return df[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c].dtype)]
        raise InputError(f"column(s) {bad[:5]} turn non-numeric {where}; clean or drop them") from None


def _from_frame(df: pd.DataFrame, y: Any, names: Sequence[Any] | None, size: int | None) -> Source:
    labels = _check_names(names, df.shape[1]) if names is not None else [str(c) for c in df.columns]
    df = df.set_axis(labels, axis=1)  # a relabelled view; the caller's frame is left untouched
    target = y if isinstance(y, str) else None
    if target is not None and target not in df.columns:
        raise InputError(f"target {target!r} is not a column; columns are {list(df.columns)[:10]}")
    numeric, other = _split_frame_columns(df.dtypes, target)
    if not numeric:
        raise InputError(f"X has no numeric columns (non-numeric: {other[:10]})")
    extra = None
    if target is not None:
        extra = _numeric_target(df[target].to_numpy())
    elif y is not None:
        extra, target = _numeric_target(_target_array(y, len(df))), "y"
    block = _frame_block(df, numeric, "")
    return Source(names=numeric, chunks=_row_chunks(block, size or default_chunk_size(len(numeric)), extra),
                  non_numeric=other, target=target, target_numeric=extra is not None, kind="dataframe")


def _from_table(path: Path, y: Any, names: Sequence[Any] | None, size: int | None) -> Source:
    head = table_head(path)
    cols = _check_names(names, head.shape[1]) if names is not None else [str(c) for c in head.columns]
    if y is not None and not isinstance(y, str):
        raise InputError("for a file, give the target as a column name (y='label')")
    if y is not None and y not in cols:
        raise InputError(f"target {y!r} is not a column of {path.name}; columns are {cols[:10]}")
    head.columns = cols
    numeric, other = _split_frame_columns(head.dtypes, y)
    if not numeric:
        raise InputError(f"{path.name} has no numeric columns (non-numeric: {other[:10]})")
    target_numeric = y is not None and pd.api.types.is_numeric_dtype(head[y].dtype)
    use = numeric + ([y] if target_numeric else [])
    chunk = size or default_chunk_size(len(use))

    def gen() -> Iterator[np.ndarray]:
        rows = 0
        for df in iter_table(path, chunk):
            yield _frame_block(df.set_axis(cols, axis=1), use, f"after row {rows}")
            rows += len(df)

    return Source(names=numeric, chunks=gen, non_numeric=other, target=y,
                  target_numeric=target_numeric, kind="csv")


def _from_parquet(path: Path, y: Any, names: Sequence[Any] | None, size: int | None) -> Source:
    import pyarrow as pa

    schema = parquet_file(path).schema_arrow
    raw_cols = list(schema.names)
    cols = _check_names(names, len(raw_cols)) if names is not None else [str(c) for c in raw_cols]
    if y is not None and not isinstance(y, str):
        raise InputError("for a file, give the target as a column name (y='label')")
    if y is not None and y not in cols:
        raise InputError(f"target {y!r} is not a column of {path.name}; columns are {cols[:10]}")

    def numeric_type(t: Any) -> bool:
        return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)

    kinds = {c: numeric_type(schema.field(i).type) for i, c in enumerate(cols)}
    numeric = [c for c in cols if kinds[c] and c != y]
    other = [c for c in cols if not kinds[c] and c != y]
    if not numeric:
        raise InputError(f"{path.name} has no numeric columns (non-numeric: {other[:10]})")
    target_numeric = y is not None and kinds[y]
    use = numeric + ([y] if target_numeric else [])
    raw_use = [raw_cols[cols.index(c)] for c in use]
    chunk = size or default_chunk_size(len(use))

    def fill(block: np.ndarray, table: Any, offset: int) -> None:
        for j in range(table.num_columns):
            block[:, offset + j] = table.column(j).cast(pa.float64()).to_numpy()

    def gen() -> Iterator[np.ndarray]:
        # Row groups up to ~2 chunks are read a few columns at a time straight into one float64
        # block (Arrow never holds more than those columns); larger groups are streamed in batches.
        pfile = parquet_file(path, pre_buffer=False)
        step = max(1, len(raw_use) // 8)
        for g in range(pfile.num_row_groups):
            rows = pfile.metadata.row_group(g).num_rows
            if rows <= 2 * chunk:
                block = np.empty((rows, len(raw_use)))
                for start in range(0, len(raw_use), step):
                    fill(block, pfile.read_row_group(g, columns=raw_use[start : start + step]), start)
                yield block
                continue
            for batch in pfile.iter_batches(batch_size=chunk, row_groups=[g], columns=raw_use):
                block = np.empty((batch.num_rows, len(raw_use)))
                fill(block, batch, 0)
                yield block

    return Source(names=numeric, chunks=gen, non_numeric=other, target=y,
                  target_numeric=target_numeric, kind="parquet")


def _from_dask(X: Any, y: Any, names: Sequence[Any] | None) -> Source:
    """A Dask DataFrame (by column, target by name) or 2-D Dask Array, profiled partition by partition."""
    if hasattr(X, "dtypes") and hasattr(X, "columns"):  # a Dask DataFrame
        labels = _check_names(names, len(X.columns)) if names is not None else [str(c) for c in X.columns]
        target = y if isinstance(y, str) else None
        if y is not None and target is None:
            raise InputError("with a Dask DataFrame give the target as a column name")
        if target is not None and target not in labels:
            raise InputError(f"target {target!r} is not a column; columns are {labels[:10]}")
        numeric, other = _split_frame_columns(pd.Series(list(X.dtypes), index=labels), target)
        if not numeric:
            raise InputError(f"X has no numeric columns (non-numeric: {other[:10]})")
        # Select by the partition's own column names: renaming first would copy each partition once more.
        own = dict(zip(labels, X.columns))
        cols = [own[c] for c in numeric + ([target] if target is not None else [])]

        def block(part: pd.DataFrame) -> np.ndarray:
            return _frame_block(part, cols, "in a partition")

        return Source(names=numeric, chunks=lambda: (block(p.compute()) for p in X.to_delayed()),
                      non_numeric=other, target=target, target_numeric=target is not None, kind="dask dataframe",
                      partitions=list(X.to_delayed()), block=block)
    if getattr(X, "ndim", None) != 2:
        raise InputError(f"a Dask array must be 2-D (rows × features); got shape {getattr(X, 'shape', None)}")
    if y is not None:
        raise InputError("a Dask array carries no target column; pass a Dask DataFrame and name the target")
    X = X.rechunk({1: -1})  # each block holds whole rows

    def array_block(part: Any) -> np.ndarray:
        return np.asarray(part, dtype=np.float64)

    parts = list(X.to_delayed().ravel())
    return Source(names=_check_names(names if names is not None else [f"x{i}" for i in range(X.shape[1])],
                                     X.shape[1]),
                  chunks=lambda: (array_block(p.compute()) for p in parts), kind="dask array",
                  partitions=parts, block=array_block)


def open_source(X: Any, y: Any = None, feature_names: Sequence[Any] | None = None,
                chunk_size: int | None = None) -> Source:
    """Recognise the input type and return a :class:`Source` (raises InputError on unusable input)."""
    if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise InputError(f"chunk_size must be a positive integer; got {chunk_size!r}")
    if isinstance(X, (str, os.PathLike)):
        files, kind = table_files(X)
        if len(files) > 1:  # a folder or glob: its files streamed one after another
            return replace(_from_table(Path(X), y, feature_names, chunk_size), kind=kind)
        return (_from_table if kind == "csv" else _from_parquet)(files[0], y, feature_names, chunk_size)
    if isinstance(X, pd.DataFrame):
        return _from_frame(X, y, feature_names, chunk_size)
    if is_dask(X):
        return _from_dask(X, y, feature_names)
    if sp.issparse(X):
        if X.ndim != 2:
            raise InputError(f"X must be 2-D; got shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise InputError(f"sparse X has unsupported dtype {X.dtype}; expected numbers")
        cols = _check_names(feature_names if feature_names is not None else
                            [f"x{i}" for i in range(X.shape[1])], X.shape[1])
        return _in_memory(sp.csr_matrix(X), cols, y, chunk_size, "sparse")
    if isinstance(X, pd.Series):
        return _from_frame(X.to_frame(), y, feature_names, chunk_size)
    try:
        arr = np.asarray(X)
    except ValueError:
        raise InputError("X is ragged: rows have different lengths") from None
    if arr.dtype == object and arr.ndim == 1 and len(arr) and isinstance(arr[0], (list, tuple, np.ndarray)):
        raise InputError("X is ragged: rows have different lengths")
    return _from_array(arr, y, feature_names, chunk_size)
