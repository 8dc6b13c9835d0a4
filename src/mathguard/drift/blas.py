"""Sums of squares as the BLAS computes them, without its thread hand-off.

A profile's centred sum of squares is ``c @ c``; for a long column OpenBLAS splits that dot product
into one part per BLAS thread and adds the parts in order, so the float it returns depends on the
split. Called from the profile's column threads, each such call waits for a BLAS worker thread; on a
busy machine that hand-off cost more than the rest of the pass. Here the column threads compute the
same parts themselves, with the BLAS held to one thread for the pass, and add them as OpenBLAS does:
the same floats, bit for bit. The split is used only after it was checked against the BLAS itself in
this process (once per thread count); otherwise the dot product is left to the BLAS as before.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

import numpy as np

_THREADED_ABOVE = 10_000  # OpenBLAS computes shorter dot products on one thread
_lock = threading.Lock()
_verified: dict[int, bool] = {}
_state: dict[str, Any] = {"active": 0, "parts": 1, "limit": None}


@lru_cache(maxsize=1)
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def split_sum_of_squares(c: np.ndarray, parts: int) -> float:
    """``c @ c`` as OpenBLAS's ``parts`` threads compute it (each thread a contiguous share, rounded up, in
    order); one-thread dot products of the shares, so call it with the BLAS held to one thread."""
    n = len(c)
    if parts <= 1 or n <= _THREADED_ABOVE:
        return float(c @ c)
    total, start = 0.0, 0
    for k in range(parts, 0, -1):
        width = -(-(n - start) // k)
        share = c[start:start + width]
        total += share @ share
        start += width
    return float(total)


def _openblas_threads() -> int:
    """The BLAS's thread count when it is OpenBLAS alone, else 1 (no split is assumed)."""
    libs = _controller().select(user_api="blas").lib_controllers
    if len(libs) != 1 or libs[0].internal_api != "openblas":
        return 1
    return int(libs[0].get_num_threads())


def _split_matches(parts: int) -> bool:
    """Whether the split reproduces this BLAS's own dot products (checked with the BLAS at ``parts`` threads)."""
    rng = np.random.default_rng(0)
    probes = [rng.normal(size=n) * 3.7 + 0.1 for n in (_THREADED_ABOVE + 1, 65_537, 262_144, 300_001)]
    expect = [float(p @ p) for p in probes]
    with _controller().limit(limits=1, user_api="blas"):
        return [split_sum_of_squares(p, parts) for p in probes] == expect


@contextmanager
def one_thread_dots() -> Iterator[int]:
    """Hold the BLAS to one thread and yield how many parts ``split_sum_of_squares`` must use to give the
    BLAS's own numbers (1 when the split is not known to match: then no limit is set). Nested and concurrent
    passes share one limit and one part count, taken before the first of them set it."""
    with _lock:
        if _state["active"] == 0:
            parts = _openblas_threads()
            if parts > 1 and parts not in _verified:
                _verified[parts] = _split_matches(parts)
            if parts > 1 and _verified[parts]:
                _state["parts"], _state["limit"] = parts, _controller().limit(limits=1, user_api="blas")
            else:
                _state["parts"], _state["limit"] = 1, None
        _state["active"] += 1
        parts = _state["parts"]
    try:
        yield parts
    finally:
        with _lock:
            _state["active"] -= 1
            if _state["active"] == 0 and _state["limit"] is not None:
                _state["limit"].restore_original_limits()
                _state["limit"] = None
