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
    p = mean.shape[0]
    r = np.zeros((0, p + 1))
    for chunk in chunks:
        block = chunk.toarray() if sp.issparse(chunk) else chunk  # one chunk at a time
        block = block[np.isfinite(block).all(axis=1)]
        if block.shape[0] == 0:
            continue
        z = np.empty((block.shape[0], p + 1))
        z[:, 0] = 1.0
        np.subtract(block, mean, out=z[:, 1:])
        r = np.linalg.qr(np.vstack([r, z]), mode="r")
    return r
