"""The one home of the information-theory formulas: entropy, cross-entropy, KL, JS, PSI, perplexity, MI.

Every function takes distributions along the last axis (so a batch is one call), in
bits (``base=2``) or nats (``base=e``, the default). Zeros are handled, not smoothed away:
0·log 0 = 0 by convention, and a divergence that is truly infinite (p > 0 where q = 0)
is returned as inf unless the caller asks for ``smoothing`` — an additive ε (in probability
units) mixed into q (and p) before renormalising, the usual Laplace-style fix for binned
drift statistics. Inputs are validated: negative or non-finite entries are an InputError;
rows are renormalised to sum to 1 (counts are accepted).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mathguard.errors import InputError
from mathguard.params import BASE, NON_NEGATIVE, declare


def _dist(p: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers (probabilities or counts), got {type(p).__name__}") from None
    if a.ndim == 0 or a.shape[-1] == 0:
        raise InputError(f"{name} must have at least one category along its last axis")
    if not np.isfinite(a).all():
        raise InputError(f"{name} contains NaN or Inf")
    if (a < 0).any():
        raise InputError(f"{name} has negative entries; probabilities and counts must be >= 0")
    total = a.sum(axis=-1, keepdims=True)
    if (total <= 0).any():
        raise InputError(f"{name} has a row that sums to zero")
    return a / total


def _pair(p: Any, q: Any, smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    pa, qa = _dist(p, "p"), _dist(q, "q")
    if pa.shape[-1] != qa.shape[-1]:
        raise InputError(f"p has {pa.shape[-1]} categories but q has {qa.shape[-1]}")
    try:
        np.broadcast_shapes(pa.shape, qa.shape)
    except ValueError:
        raise InputError(f"p of shape {pa.shape} and q of shape {qa.shape} do not broadcast") from None
    if smoothing:
        pa = (pa + smoothing) / (1 + smoothing * pa.shape[-1])
        qa = (qa + smoothing) / (1 + smoothing * qa.shape[-1])
    return pa, qa


def _log(base: float) -> float:
    return math.log(base)


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x·log(y) with 0·log(anything) = 0 and x·log 0 = −inf for x > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(y)
    return np.where(x == 0, 0.0, out)


@declare(base=BASE)
def entropy(p: Any, *, base: float = math.e) -> np.ndarray | float:
    """H(p) = −Σ p log p along the last axis."""
    pa = _dist(p, "p")
    h = -_xlogy(pa, pa).sum(axis=-1) / _log(base)
    return float(h) if np.ndim(h) == 0 else h


@declare(base=BASE, smoothing=NON_NEGATIVE)
def cross_entropy(p: Any, q: Any, *, base: float = math.e, smoothing: float = 0.0) -> np.ndarray | float:
    """H(p, q) = −Σ p log q = H(p) + KL(p‖q)."""
    pa, qa = _pair(p, q, smoothing)
    h = -_xlogy(pa, qa).sum(axis=-1) / _log(base)
    return float(h) if np.ndim(h) == 0 else h


@declare(base=BASE, smoothing=NON_NEGATIVE)
def kl(p: Any, q: Any, *, base: float = math.e, smoothing: float = 0.0) -> np.ndarray | float:
    """KL(p‖q) = Σ p log(p/q); inf where p puts mass q does not (unless smoothed)."""
    pa, qa = _pair(p, q, smoothing)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pa == 0, 0.0, pa * (np.log(pa) - np.log(qa)))
    d = terms.sum(axis=-1) / _log(base)
    return float(d) if np.ndim(d) == 0 else d


@declare(base=BASE)
def js(p: Any, q: Any, *, base: float = math.e) -> np.ndarray | float:
    """Jensen–Shannon divergence ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2: symmetric, finite, ≤ log 2."""
    pa, qa = _pair(p, q, 0.0)
    m = (pa + qa) / 2
    d = 0.5 * np.asarray(kl(pa, m, base=base)) + 0.5 * np.asarray(kl(qa, m, base=base))
    return float(d) if np.ndim(d) == 0 else d


@declare(smoothing=NON_NEGATIVE)
def psi(expected: Any, actual: Any, *, smoothing: float = 1e-4) -> np.ndarray | float:
    """Population stability index Σ (a − e)·ln(a/e) = KL(a‖e) + KL(e‖a), in nats.

    Empty bins make PSI infinite, so the default adds 1e-4 probability to every bin
    (the common practice); pass ``smoothing=0`` for the raw value.
    """
    ea, aa = _pair(expected, actual, smoothing)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (aa - ea) * (np.log(aa) - np.log(ea))
    terms = np.where(aa == ea, 0.0, terms)
    d = terms.sum(axis=-1)
    return float(d) if np.ndim(d) == 0 else d


@declare(base=BASE)
def perplexity(p: Any, *, base: float = 2.0) -> np.ndarray | float:
    """base^H(p): the effective number of equally likely outcomes (independent of the base)."""
    return np.power(base, entropy(p, base=base))


@declare(base=BASE)
def mutual_information(joint: Any, *, base: float = math.e) -> np.ndarray | float:
    """I(X;Y) = KL(p(x,y) ‖ p(x)p(y)) from a joint count or probability table.

    The table is the last two axes, so a stack of tables (…, r, c) gives one MI per table.
    """
    table = np.asarray(joint, dtype=np.float64)
    if table.ndim < 2:
        raise InputError(f"the joint table must be 2-D (or a stack of 2-D tables), got shape {table.shape}")
    flat = _dist(table.reshape(*table.shape[:-2], -1), "joint")
    pxy = flat.reshape(table.shape)
    outer = pxy.sum(axis=-1, keepdims=True) * pxy.sum(axis=-2, keepdims=True)
    return kl(flat, outer.reshape(flat.shape), base=base)
