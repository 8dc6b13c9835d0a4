"""Dask, in one place: partitions mapped where they live and merged, points sharded over workers.

Every lens that scales out goes through these few functions: the data lens (moments and the
tall-skinny QR per partition), drift profiles (one per partition, merged), binned feature
relevance (per-partition summaries), and the per-point evaluations (robustness, smoothing)
sharded to a ``dask.distributed`` Client. Dask is imported inside them only, so a process that
never scales out never imports it. Exactness is the caller's contract: merges that are exact
(counts add, moments combine), per-point seeds, fixed shard boundaries.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from mathguard.errors import InputError
from mathguard.io import reading, table_files, table_head

if TYPE_CHECKING:  # the data lens goes through this module too, and must not import torch
    import torch


def is_dask(obj: Any) -> bool:
    """Whether ``obj`` is a Dask collection, told by its type's module so that asking never imports Dask."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr")


def dask_table(path: "str | Path") -> Any:
    """A CSV or Parquet table (a file, a folder or a glob) as a Dask DataFrame: each worker reads its own files."""
    import dask.dataframe as dd

    files, k = table_files(path)
    table_head(files[0], rows=1)  # Dask reads lazily: refuse an empty or corrupt file before any worker does
    names = [str(f) for f in files]
    with reading(files[0]):
        return dd.read_csv(names) if k == "csv" else dd.read_parquet(names)


def map_partitions(fn: Callable[..., Any], parts: Sequence[Any], *args: Any) -> list[Any]:
    """``fn(partition, *args)`` for every partition, run where the partitions live, results in partition order.

    On the active ``dask.distributed`` Client if there is one, else on Dask's default scheduler.
    """
    import dask

    return list(dask.compute(*[dask.delayed(fn)(p, *args) for p in parts]))


def merge_partitions(fn: Callable[[Any], Any], parts: Sequence[Any], merge: Callable[[Any, Any], Any]) -> Any:
    """``fn`` on every partition, the results merged pairwise in a tree on the workers; None when there are none.

    Only the final merged value travels to the driver, so a summary's size, not the rows', is what moves.
    """
    import dask

    level = [dask.delayed(fn)(p) for p in parts]
    while len(level) > 1:
        level = [dask.delayed(merge)(*level[i:i + 2]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return dask.compute(level[0])[0] if level else None


def check_client(client: Any) -> None:
    """Refuse anything but a ``dask.distributed.Client`` (or None, for the single-process path)."""
    if client is None:
        return
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - the dask extra installs it
        raise InputError("client= needs dask.distributed: pip install 'mathguard[dask]'") from None
    if not isinstance(client, Client):
        raise InputError(f"client must be a dask.distributed.Client, got {type(client).__name__}")


def run_shards(client: Any, fn: Callable[..., Any], model: Any, arrays: "Sequence[torch.Tensor]", size: int,
               *args: Any) -> list[Any]:
    """``fn(model, *shard_of_each_array, *args)`` for consecutive shards of ``size`` points, in order.

    With a client each shard is a Dask task and the model is scattered to all workers once
    (broadcast), so tasks carry only their points; a task lost with its worker is rerun by
    Dask on the same shard. Without one the shards run here, one after another.
    """
    bounds = [(s, s + size) for s in range(0, len(arrays[0]), size)]
    if client is None:
        return [fn(model, *(a[lo:hi] for a in arrays), *args) for lo, hi in bounds]
    # hash=False: a fresh key per call, so releasing an earlier call's copy never removes this one.
    shared = client.scatter(model, broadcast=True, hash=False)
    futures = [client.submit(fn, shared, *(a[lo:hi] for a in arrays), *args, pure=False) for lo, hi in bounds]
    return client.gather(futures)
