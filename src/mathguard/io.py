"""Every file mathguard reads: what kind a path is, and tables read whole, in chunks or as Dask.

One module so that a ``.pq`` file, a missing file, a directory, a corrupt Parquet file or an
empty CSV mean the same thing — and give the same one-line InputError — in every command and
entry point, whichever way the rows are read.
"""

from __future__ import annotations

import glob
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from mathguard.errors import InputError

KINDS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz", ".json": "json"}
TABLES = ("csv", "parquet")

PathLike = str | os.PathLike


def kind(path: PathLike) -> str | None:
    """The kind a path names by its suffix ('csv', 'parquet', 'npz', 'json'), or None."""
    return KINDS.get(Path(path).suffix.lower())


def table_files(path: PathLike) -> tuple[list[Path], str]:
    """The files behind a table path and their kind: one file, the CSV or Parquet files under a folder (the
    dataset layout Dask and Spark write, ``_``/``.`` bookkeeping files left out), or a glob; all of one kind."""
    text = os.fspath(path)
    if any(c in text for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise InputError(f"no file matches {text}")
    elif Path(text).is_dir():
        files = sorted(p for p in Path(text).rglob("*") if p.is_file() and kind(p) in TABLES
                       and not any(part.startswith(("_", ".")) for part in p.relative_to(text).parts))
        if not files:
            raise InputError(f"{text} is a folder with no CSV or Parquet files")
    else:
        p, k = existing(text)
        return [p], k
    kinds = sorted({str(kind(f)) for f in files})
    if len(kinds) != 1 or kinds[0] not in TABLES:
        raise InputError(f"{text}: the files must all be CSV or all Parquet, found {', '.join(kinds)}")
    return files, kinds[0]


def existing(path: PathLike, kinds: Sequence[str] = TABLES) -> tuple[Path, str]:
    """The path and its kind, once it is known to be a file of one of ``kinds``."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p} is a directory; give a file")
    found = kind(p)
    if found not in kinds:
        suffixes = ", ".join(s for s, k in KINDS.items() if k in kinds)
        raise InputError(f"unsupported file type {p.suffix.lower()!r} ({p.name}); use {suffixes}")
    if not p.exists():
        raise InputError(f"no such file: {p}")
    return p, found


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn what pandas and pyarrow raise on a bad file into one InputError line naming it."""
    import pandas as pd

    try:
        yield
    except pd.errors.EmptyDataError:
        raise InputError(f"{path.name} is empty") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path.name} is not a rectangular CSV: {_last_line(exc)}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name} is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} at offset "
                         f"{exc.start}); save it as UTF-8 CSV") from None
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        if isinstance(exc, InputError) or kind(path) != "parquet":  # ours already, or not pyarrow's
            raise
        raise InputError(f"{path.name} is not a readable Parquet file: {_last_line(exc)}") from None


def _last_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def _not_empty(frame: Any, path: Path) -> Any:
    if len(frame) == 0 or len(frame.columns) == 0:
        raise InputError(f"{path.name} is empty")
    return frame


def read_table(path: PathLike) -> Any:
    """A whole CSV or Parquet table (a file, a folder of files or a glob) as one pandas DataFrame."""
    import pandas as pd

    files, k = table_files(path)
    frames = []
    for p in files:
        with reading(p):
            frames.append(_not_empty(pd.read_csv(p) if k == "csv" else pd.read_parquet(p), p))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def parquet_file(path: PathLike, **options: Any) -> Any:
    """A pyarrow ParquetFile with at least one row (for readers that pick row groups and columns)."""
    import pyarrow.parquet as pq

    p, _ = existing(path, ("parquet",))
    with reading(p):
        pfile = pq.ParquetFile(p, **options)
    if pfile.metadata.num_rows == 0 or pfile.metadata.num_columns == 0:
        raise InputError(f"{p.name} is empty")
    return pfile


def table_head(path: PathLike, rows: int = 1000) -> Any:
    """The first rows of a CSV or Parquet table (its first file): its columns and the dtypes they read as."""
    import pandas as pd

    files, k = table_files(path)
    p = files[0]
    if k == "parquet":
        pfile = parquet_file(p)
        with reading(p):
            return next(pfile.iter_batches(batch_size=rows)).to_pandas()
    with reading(p):
        return _not_empty(pd.read_csv(p, nrows=rows), p)


def iter_table(path: PathLike, chunk_size: int) -> Iterator[Any]:
    """A CSV or Parquet file as pandas DataFrames of at most ``chunk_size`` rows, never loaded whole.

    CSV goes through pandas' chunked reader, Parquet through pyarrow batches that pyarrow fills
    from one row group after another (a batch may span groups, so small groups still make
    full chunks); either way the chunks concatenate to exactly the frame ``read_table`` returns.
    """
    import pandas as pd

    files, k = table_files(path)
    for p in files:  # a folder or glob: its files one after another
        if k == "parquet":
            pfile = parquet_file(p)
            with reading(p):
                for batch in pfile.iter_batches(batch_size=chunk_size):
                    yield batch.to_pandas()
            continue
        table_head(p, rows=1)  # an empty or header-only file fails here, as it does when read whole
        with reading(p):
            yield from pd.read_csv(p, chunksize=chunk_size)


def read_npz(path: PathLike, arrays: Sequence[str]) -> dict[str, np.ndarray]:
    """The named numeric arrays of an .npz file (one row per sample), read without unpickling."""
    p, _ = existing(path, ("npz",))
    try:
        with np.load(p, allow_pickle=False) as data:
            files = set(data.files)
            out = {name: data[name] for name in arrays if name in files}
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # truncated or not a zip archive at all
        raise InputError(f"{p.name} is not a readable .npz file ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:  # object arrays would need pickle
        raise InputError(f"cannot read {p.name} without unpickling: {exc}") from None
    missing = set(arrays) - set(out)
    if missing:
        raise InputError(f"{p.name} lacks array(s) {sorted(missing)}; it has {sorted(files)}")
    for name, arr in out.items():
        if arr.ndim == 0 or arr.dtype.kind not in "biuf":
            raise InputError(f"{p.name}: array {name!r} must be a numeric array with one row per sample, "
                             f"got dtype {arr.dtype} and shape {arr.shape}")
    if len(out[arrays[0]]) == 0:
        raise InputError(f"{p.name} is empty")
    return out


def npz_names(path: PathLike) -> list[str]:
    """The arrays an .npz file holds."""
    p, _ = existing(path, ("npz",))
    with np.load(p, allow_pickle=False) as data:
        return list(data.files)
