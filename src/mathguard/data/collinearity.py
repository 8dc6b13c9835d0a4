"""Collinearity from one SVD: exact dependencies with coefficients, VIF, Belsley diagnostics, PCA."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A unit null vector's component below this is rounding noise, not membership in the dependency.
MEMBER_TOL = 1e-7


@dataclass(frozen=True)
class Relation:
    """``target = Σ coef·term + constant`` holding exactly on every (complete) row."""

    target: str
    terms: tuple[tuple[str, float], ...]
    constant: float

    def __str__(self) -> str:
        parts = [f"{_num(c)}·{name}" for name, c in self.terms]
        if abs(self.constant) > 0:
            parts.append(_num(self.constant))
        text = " + ".join(parts) if parts else "0"
        text = text.replace("+ -", "− ")
        return f"{self.target} = " + ("−" + text[1:] if text.startswith("-") else text)

    @property
    def columns(self) -> list[str]:
        return [self.target, *(name for name, _ in self.terms)]


def _num(x: float) -> str:
    return np.format_float_positional(x, precision=4, fractional=False, trim="0")


def null_space(s: np.ndarray, v: np.ndarray, tol: float) -> np.ndarray:
    """Orthonormal basis (p×k) of the numerical null space."""
    return v[:, s <= tol]


def pivots(null: np.ndarray) -> list[int]:
    """One column per dependency to solve for, chosen from the last column backwards
    (a derived or redundant column is usually appended after its sources)."""
    k = null.shape[1]
    chosen: list[int] = []
    basis = np.zeros((0, k))
    for j in range(null.shape[0] - 1, -1, -1):
        if len(chosen) == k:
            break
        resid = null[j] - basis.T @ (basis @ null[j])
        norm = np.linalg.norm(resid)
        if norm > 1e-6:
            chosen.append(j)
            basis = np.vstack([basis, resid / norm])
    return chosen


def relations(null: np.ndarray, piv: list[int], names: list[str], sd: np.ndarray,
              mean: np.ndarray) -> list[Relation]:
    """Express a null space of the standardised matrix as explicit column equations.

    The basis is reduced so each relation contains exactly one pivot, which is solved
    for in the columns' original units.
    """
    k = null.shape[1]
    if k == 0:
        return []
    # Reduce: coefficients in standardised units with identity on the pivot rows.
    reduced = null @ np.linalg.solve(null[piv, :], np.eye(k))
    raw = reduced / sd[:, None]  # Σ_j raw_j (x_j − mean_j) = 0 for each column of `raw`
    out = []
    for col, j0 in enumerate(piv):
        b = raw[:, col] / raw[j0, col]
        b[np.abs(reduced[:, col]) < MEMBER_TOL * np.abs(reduced[:, col]).max()] = 0.0
        coefs = -b
        coefs[j0] = 0.0
        terms = tuple((names[j], float(coefs[j])) for j in np.flatnonzero(coefs))
        const = float(mean[j0] - coefs @ mean)
        scale = abs(mean[j0]) + np.abs(coefs * mean).sum()
        if abs(const) <= 1e-9 * max(scale, 1e-300):
            const = 0.0
        out.append(Relation(target=names[j0], terms=terms, constant=const))
    return out


def vif(s: np.ndarray, v: np.ndarray, tol: float, n: int) -> np.ndarray:
    """Variance inflation factors of every column at once.

    VIF_j = 1/(1 − R²_j) = [C⁻¹]_jj for the correlation matrix C. With an exact
    dependence, min_{b_j=1} bᵀCb is 0 (VIF = ∞) exactly when e_j is not orthogonal to
    the null space; otherwise it is 1/[C⁺]_jj, so the pseudo-inverse gives the rest.
    """
    lam = s**2 / max(n - 1, 1)
    live = s > tol
    inv_diag = (v[:, live] ** 2 / lam[live]).sum(axis=1)
    in_null = np.sqrt((v[:, ~live] ** 2).sum(axis=1)) > MEMBER_TOL
    return np.where(in_null, np.inf, inv_diag)


@dataclass(frozen=True)
class Belsley:
    """Condition indices η_k = μ_max/μ_k and variance-decomposition proportions π[k, j]."""

    indices: np.ndarray
    proportions: np.ndarray
    names: list[str]

    def groups(self, threshold: float = 30.0, share: float = 0.5) -> list[tuple[float, list[str]]]:
        """Belsley's rule: a condition index ≥ threshold with ≥ 2 variables each having ≥ `share`
        of their coefficient variance in it marks a group of collinear variables."""
        out = []
        for k in np.argsort(self.indices)[::-1]:
            if not self.indices[k] >= threshold:
                continue
            members = [self.names[j] for j in np.flatnonzero(self.proportions[k] >= share)]
            if len(members) >= 2:
                out.append((float(self.indices[k]), members))
        return out


def belsley(s: np.ndarray, v: np.ndarray, names: list[str]) -> Belsley:
    """Diagnostics from the SVD of the unit-length-scaled [1, X] (Belsley, Kuh & Welsch 1980)."""
    with np.errstate(divide="ignore"):
        phi = v**2 / s**2  # phi[j, k] = v_jk² / μ_k²
        indices = s[0] / s
    total = phi.sum(axis=1, keepdims=True)
    return Belsley(indices=indices, proportions=(phi / total).T, names=names)


def explained_variance(s: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA variances (as sklearn's ``explained_variance_``) and their ratios, from the centred SVD."""
    k = min(n, s.size)
    var = s[:k] ** 2 / max(n - 1, 1)
    total = var.sum()
    return var, (var / total if total > 0 else np.zeros_like(var))


def components_for(ratio: np.ndarray, level: float) -> int:
    """Smallest number of leading components whose cumulative ratio reaches ``level``."""
    cum = np.cumsum(ratio)
    return int(min(np.searchsorted(cum, level - 1e-12) + 1, ratio.size))
