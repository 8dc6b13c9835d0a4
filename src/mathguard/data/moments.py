"""Streaming first and second moments of a feature matrix in float64.

Each chunk is centred on its own mean before its cross-product is formed, and chunks are
merged with Chan, Golub & LeVeque's pairwise update

    M2 = M2_a + M2_b + (n_a n_b / n) δ δᵀ,   δ = mean_b − mean_a,

so nothing of the form Σxxᵀ − n·m mᵀ is ever subtracted at the scale of the raw data
(that naive formula loses every digit once |mean| ≫ sd). Dense chunks are further shifted
by one fixed vector K (the first chunk's mean) before anything is summed, so chunk means
are accumulated at the scale of the spread, not of the offset. Sparse chunks are shifted by
the same K without densifying them (see :func:`_shifted_sparse_gram`). Memory is O(p²).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class Moments:
    """Count, mean and centred cross-product matrix of the complete rows seen so far,
    plus per-column counts of NaN/Inf (rows holding any are left out of the moments)."""

    p: int
    n: int = 0
    n_seen: int = 0
    shift: np.ndarray = field(init=False)
    mean_shifted: np.ndarray = field(init=False)
    m2: np.ndarray = field(init=False)
    n_nan: np.ndarray = field(init=False)
    n_inf: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.shift = np.zeros(self.p)
        self.mean_shifted = np.zeros(self.p)
        self.m2 = np.zeros((self.p, self.p))
        self.n_nan = np.zeros(self.p, dtype=np.int64)
        self.n_inf = np.zeros(self.p, dtype=np.int64)

    # ----------------------------------------------------------------- chunks
    def update(self, chunk: "np.ndarray | sp.csr_matrix") -> None:
        """Fold one chunk of rows in (dense float64 array or CSR matrix)."""
        self.n_seen += chunk.shape[0]
        if sp.issparse(chunk):
            self._update_sparse(chunk)
            return
        if not np.isfinite(chunk).all():
            self.n_nan += np.isnan(chunk).sum(axis=0)
            self.n_inf += np.isinf(chunk).sum(axis=0)
            chunk = chunk[np.isfinite(chunk).all(axis=1)]
        n = chunk.shape[0]
        if n == 0:
            return
        if self.n == 0:
            self.shift = chunk.mean(axis=0)
        chunk = chunk - self.shift
        mean = chunk.mean(axis=0)
        chunk -= mean
        self.merge(n, mean, chunk.T @ chunk)

    def _update_sparse(self, chunk: sp.csr_matrix) -> None:
        data = chunk.data
        if not np.isfinite(data).all():
            bad = ~np.isfinite(data)
            cols = chunk.indices[bad]
            self.n_nan += np.bincount(cols[np.isnan(data[bad])], minlength=self.p)
            self.n_inf += np.bincount(cols[np.isinf(data[bad])], minlength=self.p)
            rows = np.repeat(np.arange(chunk.shape[0]), np.diff(chunk.indptr))[bad]
            keep = np.ones(chunk.shape[0], dtype=bool)
            keep[rows] = False
            chunk = chunk[keep]
        n = chunk.shape[0]
        if n == 0:
            return
        if self.n == 0:
            self.shift = np.asarray(chunk.sum(axis=0)).ravel() / n
        total, gram = _shifted_sparse_gram(chunk, self.shift)
        mean = total / n
        self.merge(n, mean, gram - n * np.outer(mean, mean))

    def merge(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        """Chan's pairwise update with another block's (count, shifted mean, centred cross-product)."""
        n_a = self.n
        n = n_a + n_b
        delta = mean_b - self.mean_shifted
        self.m2 += m2_b + np.outer(delta, delta) * (n_a * n_b / n)
        self.mean_shifted += delta * (n_b / n)
        self.n = n

    def combine(self, other: "Moments") -> "Moments":
        """Fold in moments accumulated elsewhere (another partition, another worker) with its own shift.

        The other block's mean is re-expressed against this shift as (K_b − K_a) + m_b: the
        difference of two shifts of the same data is exact or nearly so, never a raw-scale
        cancellation. Equal, to rounding, to having streamed both blocks here.
        """
        self.n_seen += other.n_seen
        self.n_nan += other.n_nan
        self.n_inf += other.n_inf
        if other.n == 0:
            return self
        if self.n == 0:
            self.shift = other.shift.copy()
        self.merge(other.n, (other.shift - self.shift) + other.mean_shifted, other.m2)
        return self

    @property
    def mean(self) -> np.ndarray:
        """Mean of the complete rows, in the data's own units."""
        return self.shift + self.mean_shifted


def _shifted_sparse_gram(chunk: sp.csr_matrix, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ (x − K) and Σ (x − K)(x − K)ᵀ over the rows of a CSR chunk, without densifying it.

    Stored values are shifted in place of the raw ones (D = x − K on the stored pattern B); an
    implicit zero is −K_j. With C = 1 − B, z = D − C·diag(K), and zᵀz expands into sparse Grams
    of D and B plus exact integer counts, so no raw-scale Σxxᵀ is ever formed and subtracted.
    """
    chunk = chunk.copy()
    chunk.sum_duplicates()
    n = chunk.shape[0]
    pattern = chunk.copy()
    pattern.data = np.ones_like(pattern.data)
    shifted = chunk
    shifted.data = chunk.data - shift[chunk.indices]
    stored = np.asarray(pattern.sum(axis=0)).ravel()
    d_sum = np.asarray(shifted.sum(axis=0)).ravel()
    dc = d_sum[:, None] - (shifted.T @ pattern).toarray()                      # Σᵢ D_ij (1 − B_ik)
    cc = n - stored[:, None] - stored[None, :] + (pattern.T @ pattern).toarray()  # Σᵢ (1 − B_ij)(1 − B_ik)
    cross = dc * shift[None, :]
    gram = (shifted.T @ shifted).toarray() - cross - cross.T + cc * np.outer(shift, shift)
    return d_sum - shift * (n - stored), gram
