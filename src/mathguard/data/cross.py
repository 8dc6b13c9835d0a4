"""One cross-product matrix G = FᵀF, held either as G (Gram route) or as a factor F (QR route).

Every spectral quantity of the audit — raw, centred and standardised condition numbers,
VIF, Belsley indices, PCA — is the SVD of some column transform of Z = [1, X − mean].
Holding Z's cross-product one way or the other lets the same code run on the cheap
Gram matrix and, when conditioning is poor, on the accurate TSQR factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class Cross:
    """G = FᵀF for some column transform of the data; exactly one of gram/factor is set."""

    gram: np.ndarray | None = None
    factor: np.ndarray | None = None

    @property
    def accurate(self) -> bool:
        """True when singular values come from a factor (error eps·σ_max, not eps·σ_max²)."""
        return self.factor is not None

    def transform(self, w: np.ndarray) -> "Cross":
        """Cross-product of (data · w): F·w, or wᵀ G w."""
        if self.factor is not None:
            return Cross(factor=self.factor @ w)
        g = w.T @ self.gram @ w
        return Cross(gram=(g + g.T) / 2)

    def scale(self, d: np.ndarray) -> "Cross":
        """Cross-product of (data · diag(d)) without forming diag(d)."""
        if self.factor is not None:
            return Cross(factor=self.factor * d)
        return Cross(gram=self.gram * np.outer(d, d))

    def svd(self) -> tuple[np.ndarray, np.ndarray]:
        """Singular values (descending, length = number of columns) and right singular vectors V."""
        if self.factor is not None:
            k = self.factor.shape[1]
            _, s, vt = np.linalg.svd(self.factor, full_matrices=True)
            return np.concatenate([s, np.zeros(k - s.size)]), vt.T
        lam, v = np.linalg.eigh(self.gram)
        order = np.argsort(lam)[::-1]
        return np.sqrt(np.clip(lam[order], 0.0, None)), v[:, order]

    def singular_values(self) -> np.ndarray:
        """Singular values only (descending): several times cheaper than :meth:`svd` for large p."""
        if self.factor is not None:
            s = np.linalg.svd(self.factor, compute_uv=False)
            return np.concatenate([s, np.zeros(self.factor.shape[1] - s.size)])
        return np.sqrt(np.clip(np.linalg.eigvalsh(self.gram)[::-1], 0.0, None))


def rank_tolerance(s_max: float, n: int, p: int, accurate: bool) -> float:
    """Singular values at or below this are numerically zero.

    A factor's singular values are backward stable to ~max(n, p)·eps·σ_max (the
    LAPACK/NumPy `matrix_rank` rule); Gram eigenvalues only to ~eps·σ_max², i.e. a
    singular value resolution of √(max(n, p)·eps)·σ_max.
    """
    if accurate:
        return max(n, p) * EPS * s_max
    return np.sqrt(max(n, p) * EPS) * s_max


def condition(s: np.ndarray, tol: float) -> float:
    """σ_max / σ_min, ∞ when σ_min is numerically zero."""
    if s.size == 0 or s[0] == 0:
        return float("inf")
    return float("inf") if s[-1] <= tol else float(s[0] / s[-1])
