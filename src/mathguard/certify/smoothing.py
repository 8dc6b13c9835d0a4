"""Randomized smoothing (Cohen, Rosenfeld & Kolter, 2019): CERTIFY and PREDICT.

The smoothed classifier g(x) = argmax_c P(f(x + δ) = c), δ ~ N(0, σ²I), is provably
constant inside an L2 ball of radius σ·Φ⁻¹(p̲_A), where p̲_A is a lower confidence
bound on the top-class probability. The certificate is about g, not the base model f.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from scipy.stats import beta, binomtest, norm

from mathguard.errors import InputError
from mathguard.models.base import Classifier
from mathguard.models.wrap import wrap

ABSTAIN = -1


def _check(sigma: float, n: int, alpha: float, n0: int = 1) -> None:
    if not sigma > 0:
        raise InputError(f"sigma must be positive, got {sigma}")
    if n < 1 or n0 < 1:
        raise InputError(f"sample counts must be positive, got n0={n0}, n={n}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")


def lower_confidence_bound(k: "np.ndarray | int", n: int, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper–Pearson lower bound on a binomial proportion k/n."""
    k = np.asarray(k, dtype=float)
    with np.errstate(invalid="ignore"):
        lb = beta.ppf(alpha, k, n - k + 1)
    return np.where(k > 0, lb, 0.0)


def max_certifiable_radius(sigma: float, n: int, alpha: float) -> float:
    """Largest radius any point can get with n draws: all n agree, p̲ = α^(1/n)."""
    _check(sigma, n, alpha)
    return float(sigma * norm.ppf(alpha ** (1.0 / n)))


@torch.inference_mode()
def sample_predictions(clf: Classifier, x: torch.Tensor, sigma: float, num: int, batch_size: int,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Base-classifier labels of `num` fresh Gaussian draws around one input, in full batches."""
    preds = torch.empty(num, dtype=torch.long)
    # One buffer reused for every batch: noise is drawn, scaled and shifted in place.
    buf = torch.empty((min(batch_size, num), *x.shape), dtype=x.dtype)
    for start in range(0, num, batch_size):
        noisy = buf[: min(batch_size, num - start)]
        torch.randn(noisy.shape, generator=generator, out=noisy)
        noisy.mul_(sigma).add_(x)
        preds[start:start + len(noisy)] = clf.logits(noisy).argmax(dim=-1)
    return preds


def sample_counts(clf: Classifier, x: torch.Tensor, sigma: float, num: int, batch_size: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Class counts of the base classifier under `num` fresh Gaussian draws around one input."""
    return torch.bincount(sample_predictions(clf, x, sigma, num, batch_size, generator), minlength=clf.n_classes)


@dataclass
class SmoothingCertificate:
    """Per-input outcome of CERTIFY: predicted class (or -1 = abstain) and certified L2 radius."""

    predictions: np.ndarray
    radius: np.ndarray
    p_lower: np.ndarray
    labels: np.ndarray | None
    sigma: float
    n0: int
    n: int
    alpha: float

    @property
    def abstained(self) -> np.ndarray:
        return self.predictions == ABSTAIN

    @property
    def max_radius(self) -> float:
        """The radius ceiling set by n and α alone (see :func:`max_certifiable_radius`)."""
        return max_certifiable_radius(self.sigma, self.n, self.alpha)

    def certified_accuracy(self, radii: Sequence[float]) -> dict[float, float]:
        """radius → fraction of inputs predicted correctly *and* certified at least that far."""
        if self.labels is None:
            raise InputError("certified accuracy needs the true labels: pass y to smoothing()")
        correct = (self.predictions == self.labels) & ~self.abstained
        return {float(r): float(np.mean(correct & (self.radius >= r))) for r in radii}


def smoothing(clf: Any, x: Any, y: Any = None, *, sigma: float = 0.25, n0: int = 100, n: int = 100_000,
              alpha: float = 0.001, batch_size: int = 1000, seed: int | None = 0) -> SmoothingCertificate:
    """CERTIFY each input: guess the top class from n0 draws, bound its probability from n fresh draws.

    Abstains (prediction -1, radius 0) when the lower bound p̲_A is not above ½.
    """
    clf = wrap(clf)
    _check(sigma, n, alpha, n0)
    xt = clf.as_input(x)
    labels = None if y is None else clf.as_labels(y, len(xt)).numpy()
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    preds = np.full(len(xt), ABSTAIN)
    radius = np.zeros(len(xt))
    p_low = np.zeros(len(xt))
    for i in range(len(xt)):
        # The n0 selection draws and the n estimation draws are independent noise; sharing forward
        # batches between them changes nothing statistically and saves a partial batch per input.
        drawn = sample_predictions(clf, xt[i], sigma, n0 + n, batch_size, gen)
        c_a = int(torch.bincount(drawn[:n0], minlength=clf.n_classes).argmax())
        n_a = int((drawn[n0:] == c_a).sum())
        p_low[i] = lower_confidence_bound(n_a, n, alpha)
        if p_low[i] > 0.5:
            preds[i] = c_a
            radius[i] = sigma * norm.ppf(p_low[i])
    return SmoothingCertificate(preds, radius, p_low, labels, sigma, n0, n, alpha)


def smoothed_predict(clf: Any, x: Any, *, sigma: float = 0.25, n: int = 1000, alpha: float = 0.001,
                     batch_size: int = 1000, seed: int | None = 0) -> np.ndarray:
    """PREDICT: the top class if a two-sided binomial test separates it from the runner-up at level α, else -1."""
    clf = wrap(clf)
    _check(sigma, n, alpha)
    xt = clf.as_input(x)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    out = np.full(len(xt), ABSTAIN)
    for i in range(len(xt)):
        counts = sample_counts(clf, xt[i], sigma, n, batch_size, gen)
        top2 = torch.topk(counts, 2) if clf.n_classes > 1 else torch.topk(counts, 1)
        n_a = int(top2.values[0])
        n_b = int(top2.values[1]) if len(top2.values) > 1 else 0
        if binomtest(n_a, n_a + n_b, 0.5).pvalue <= alpha:
            out[i] = int(top2.indices[0])
    return out
