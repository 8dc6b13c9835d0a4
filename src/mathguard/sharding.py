"""Points sharded into Dask tasks: the model goes to every worker once, shard results come back in order.

Evaluation and certification are per point, so a batch of points splits into independent
tasks. The caller merges the ordered shard results; exactness is the caller's contract
(per-point seeds in smoothing, fixed shard boundaries in the attack evaluation).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from mathguard.errors import InputError


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


def run_shards(client: Any, fn: Callable[..., Any], model: Any, arrays: Sequence[torch.Tensor], size: int,
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
