"""Streaming first and second moments of a feature matrix in float64.

Each chunk is centred on its own mean before its cross-product is formed, and chunks are
merged with Chan, Golub & LeVeque's pairwise update

    M2 = M2_a + M2_b + (n_a n_b / n) δ δᵀ,   δ = mean_b − mean_a,

so nothing of the form Σxxᵀ − n·m mᵀ is ever subtracted at the scale of the raw data
(that naive formula loses every digit once |mean| ≫ sd). Dense chunks are further shifted
by one fixed vector K (the first chunk's mean) before anything is summed, so chunk means
are accumulated at the scale of the spread, not of the offset; they are folded in cache-sized
row blocks (:func:`block_rows`), each merged like a chunk. Sparse chunks are shifted by the
same K without densifying them (see :func:`_shifted_sparse_gram`). Memory is O(p²).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


def block_rows(p: int) -> int:
    """Rows per block of a dense chunk: narrow blocks (≈ 512 KiB) stay in cache through the centring passes
    and their Gram, which are memory-bound on the whole chunk; at least 16·p rows, so the O(p²) merge of each
    block stays small next to its O(rows·p²) Gram."""
    return max(2**19 // (8 * max(p, 1)), 16 * p)


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
        rows = block_rows(chunk.shape[1])
        scratch = np.empty((min(rows, chunk.shape[0]), chunk.shape[1]))
        for start in range(0, chunk.shape[0], rows):
            self._update_dense(chunk[start : start + rows], scratch)

    def _update_dense(self, block: np.ndarray, scratch: np.ndarray) -> None:
        """Fold one cache-sized block in. NaN/Inf are looked for only when the block's mean is not finite
        (any NaN or Inf makes it so), which spares a full pass over clean data."""
        shift, mean, centred = self._centre(block, scratch)
        if not np.isfinite(mean).all():
            finite = np.isfinite(block)
            if not finite.all():  # else finite values whose sums overflow: kept, and refused by validation
                self.n_nan += np.isnan(block).sum(axis=0)
                self.n_inf += np.isinf(block).sum(axis=0)
                block = block[finite.all(axis=1)]
                if block.shape[0] == 0:
                    return
                shift, mean, centred = self._centre(block, scratch)
        self.shift = shift
        self.merge(block.shape[0], mean, centred.T @ centred)

    def _centre(self, block: np.ndarray, scratch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(shift, mean of block − shift, block − shift − mean) written into ``scratch``; the very first
        rows folded in fix the shift."""
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf rows are found from the mean, then dropped
            shift = block.mean(axis=0) if self.n == 0 else self.shift
            centred = np.subtract(block, shift, out=scratch[: block.shape[0]])
            mean = centred.mean(axis=0)
            centred -= mean
        return shift, mean, centred

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
