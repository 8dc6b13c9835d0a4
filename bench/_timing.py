"""Timing shared by the bench scripts: best wall time per contender, rounds interleaved."""

from __future__ import annotations

import time
from typing import Callable


def best_of(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each contender; interleaving rounds spreads load from other processes over all alike."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best
