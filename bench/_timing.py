"""Timing shared by the bench scripts: wall seconds per contender, rounds interleaved.

Every timer returns seconds first, so no script has to remember which way round its helper was.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def rounds(fns: dict[str, Callable[[], object]], repeat: int, warmup: int = 0) -> dict[str, list[float]]:
    """Wall seconds of each call of each contender over ``repeat`` kept rounds (after ``warmup`` untimed ones).

    Each round calls every contender once, so load from other processes on a shared machine hits all alike.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(warmup + repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if r >= warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def best_of(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each contender: the least disturbed of ``repeat`` interleaved rounds."""
    return {name: min(t) for name, t in rounds(fns, repeat).items()}


def timed(fn: Callable[[], T], repeat: int = 1) -> tuple[float, T]:
    """Best wall time of ``repeat`` calls and the last call's result, for contenders whose output is checked too."""
    last: list[T] = []

    def call() -> None:
        last[:] = [fn()]

    return best_of({"fn": call}, repeat)["fn"], last[0]
