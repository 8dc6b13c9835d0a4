"""Streaming tall-skinny QR: keep only the (p+1)×(p+1) R factor of [1, X − mean].

Why: singular values taken from the Gram matrix XᵀX carry an error of about
eps·σ_max², so for κ ≳ 1e5 the small ones lose most of their digits. R has the
same singular values as the (centred) data but is computed with Householder
reflections, whose error is eps·σ_max — κ is resolved up to ~1/eps instead of ~1/√eps.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import scipy.sparse as sp


def streaming_r(chunks: Iterable[Any], mean: np.ndarray) -> np.ndarray:
    """R factor of the complete rows of [1, X − mean], updated chunk by chunk.

    Rows with NaN/Inf are dropped exactly as in :class:`Moments`, so R matches the
    moments it confirms. Memory: one chunk plus R.
    """
    r = np.zeros((0, mean.shape[0] + 1))
    for chunk in chunks:
        r = stack_r([r, block_r(chunk, mean)])
    return r


def block_r(chunk: Any, mean: np.ndarray) -> np.ndarray:
    """R factor of one block's complete rows of [1, X − mean] (a partition's share of the TSQR)."""
    p = mean.shape[0]
    block = chunk.toarray() if sp.issparse(chunk) else chunk
    block = block[np.isfinite(block).all(axis=1)]
    z = np.empty((block.shape[0], p + 1))
    z[:, 0] = 1.0
    np.subtract(block, mean, out=z[:, 1:])
    return np.linalg.qr(z, mode="r") if len(z) else np.zeros((0, p + 1))


def stack_r(factors: list[np.ndarray]) -> np.ndarray:
    """R of the rows of several R factors stacked: QR of [A; B] has the R of [R_A; R_B]."""
    rows = np.vstack(factors)
    return np.linalg.qr(rows, mode="r") if len(rows) else rows
