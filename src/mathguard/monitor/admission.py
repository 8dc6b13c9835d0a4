"""Ingest's admission control: how many batches may be in flight, and how many body bytes decoded at once."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator


class Admission:
    """Ingest's admission: batches in flight, and bytes of bodies decoded at once (which bounds its memory).

    Used from the event loop only, so its counters need no lock.
    """

    def __init__(self, max_inflight: int, parse_budget_bytes: int) -> None:
        self.max_inflight, self.inflight = max_inflight, 0
        self.parsing = _Budget(parse_budget_bytes)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1


class _Budget:
    """An async gate by weight: holders together take at most ``total`` (one alone may take more)."""

    def __init__(self, total: int) -> None:
        self.total, self.used = total, 0
        self._cond: asyncio.Condition | None = None

    @asynccontextmanager
    async def take(self, weight: int) -> AsyncIterator[None]:
        if self._cond is None:
            self._cond = asyncio.Condition()
        async with self._cond:
            await self._cond.wait_for(lambda: self.used == 0 or self.used + weight <= self.total)
            self.used += weight
        try:
            yield
        finally:
            async with self._cond:
                self.used -= weight
                self._cond.notify_all()
