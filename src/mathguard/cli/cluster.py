"""--scheduler / --workers: run a command's partition work on Dask instead of one process."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click

from mathguard.errors import InputError


def cluster_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The two ways to name a Dask cluster, shared by every command that can use one."""
    func = click.option("--workers", type=click.IntRange(min=1), default=None,
                        help="Start a local Dask cluster with this many worker processes.")(func)
    return click.option("--scheduler", default=None,
                        help="Address of a running Dask scheduler, e.g. tcp://host:8786.")(func)


@contextmanager
def cluster(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A dask.distributed Client for the command's duration (None when neither option is given)."""
    if scheduler and workers:
        raise InputError("give --scheduler or --workers, not both")
    if not (scheduler or workers):
        yield None
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--scheduler/--workers need dask.distributed: pip install 'mathguard[dask]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as local, \
            Client(local) as client:
        yield client

