"""Per-point random draws: what a point gets depends on (seed, point id, draw key) only.

A batch generator hands each point numbers that depend on its position in the batch, so
splitting the points into shards (Dask tasks, smaller batches) would change an attack's
random starts and windows, and with them its outcomes. These draws are counter based
(the SplitMix64 finaliser over the key), so a point keeps its draws in any batch.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch

_MASK = 2**64 - 1
_GOLDEN, _M1, _M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix(z: "np.ndarray | int") -> "np.ndarray | int":
    """SplitMix64's finaliser: a bijection on 64-bit words that scatters every input bit.

    It takes a uint64 array (products wrap) or one Python int (masked to 64 bits): the key of
    a draw is a single word, and mixing it as an int skips numpy's per-call cost.
    """
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


class PointDraws:
    """Random numbers per point: ``draws.uniform(key, shape)`` has one row per point id.

    ``key`` is a tuple of non-negative ints naming the draw (which pass, which iteration);
    the same (seed, id, key) always gives the same numbers, whatever else is in the batch.
    """

    def __init__(self, seed: int, ids: Any) -> None:
        self.seed = int(seed)
        self.ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
        with np.errstate(over="ignore"):  # the id's half of the point word, the same for every key
            self._id_words = self.ids.numpy().astype(np.uint64) * np.uint64(_GOLDEN) + np.uint64(_M2)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, rows: Any) -> "PointDraws":
        """The draws of a subset of the points (indices or a mask into this batch)."""
        return PointDraws(self.seed, self.ids[rows])

    def uniform(self, key: tuple[int, ...], shape: tuple[int, ...] = (), dtype: torch.dtype = torch.float32
                ) -> torch.Tensor:
        """Uniform on [0, 1), shape (points, *shape)."""
        word = _mix((self.seed * _GOLDEN + len(key)) & _MASK)
        for part in key:
            word = _mix(word ^ ((part * _GOLDEN + _M1) & _MASK))
        with np.errstate(over="ignore"):
            point = _mix(np.uint64(word) ^ self._id_words)
            count = math.prod(shape)
            z = _mix(point[:, None] + (np.arange(1, count + 1, dtype=np.uint64) * np.uint64(_GOLDEN))[None, :])
        u = (z >> 11).astype(np.float64) * 2.0**-53
        return torch.from_numpy(u.reshape(len(self.ids), *shape)).to(dtype)

    def normal(self, key: tuple[int, ...], shape: tuple[int, ...] = (), dtype: torch.dtype = torch.float32
               ) -> torch.Tensor:
        """Standard normal (Box–Muller on two uniform draws), shape (points, *shape)."""
        u = self.uniform(key, (2, *shape), torch.float64)
        z = torch.sqrt(-2.0 * torch.log1p(-u[:, 0])) * torch.cos(2 * math.pi * u[:, 1])
        return z.to(dtype)

    def integers(self, key: tuple[int, ...], high: int, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """Integers in [0, high), shape (points, *shape)."""
        u = self.uniform(key, shape, torch.float64)
        return (u * high).long().clamp_max(high - 1)

    def signs(self, key: tuple[int, ...], shape: tuple[int, ...] = (), dtype: torch.dtype = torch.float32
              ) -> torch.Tensor:
        """±1 with equal odds, shape (points, *shape)."""
        return torch.where(self.uniform(key, shape, torch.float64) < 0.5, -1.0, 1.0).to(dtype)


def content_ids(x: torch.Tensor) -> torch.Tensor:
    """A 63-bit id per row from its bytes: the same row gets the same id (and draws) in any batch."""
    rows = np.ascontiguousarray(x.detach().cpu().numpy()).reshape(len(x), -1)
    return torch.tensor([int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest(), "little") >> 1
                         for r in rows], dtype=torch.long)
