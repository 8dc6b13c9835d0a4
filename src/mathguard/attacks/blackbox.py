"""Zero-order attacks: gradients estimated from output queries only (NES and SPSA), fed to PGD.

Both estimators use antithetic pairs f(x + σu) − f(x − σu): NES with Gaussian directions
(Ilyas et al., 2018), SPSA with Rademacher directions (Uesato et al., 2018). They need
nothing but ``clf.logits`` (log-probabilities for black boxes), so they work on forests,
ONNX files and remote ``predict_proba`` callables, and every query is counted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mathguard.attacks.base import Attack, Progress
from mathguard.attacks.geometry import clip_bounds, normalized_step, per_sample, project
from mathguard.attacks.draws import PointDraws
from mathguard.models.base import Classifier
from mathguard.params import COUNT, Choice, INT_SEED, NORM, POSITIVE, declare

ESTIMATORS = ("nes", "spsa")


@torch.no_grad()
@declare(method=Choice(ESTIMATORS), samples=COUNT, sigma=POSITIVE)
def estimate_gradient(clf: Classifier, x: torch.Tensor, y: torch.Tensor, *, method: str = "nes",
                      samples: int = 50, sigma: float = 1e-3, draws: PointDraws | None = None,
                      key: tuple[int, ...] = ()) -> torch.Tensor:
    """Per-sample estimate of ∇ₓ CE(clf(x), y) from 2·samples queries per input.

    The probe directions come from ``draws`` under ``key`` (default: point ids 0..n-1, random_state 0),
    so a point's estimate does not depend on the batch around it.
    """
    n = len(x)
    grad = torch.zeros_like(x)
    draws = PointDraws(0, torch.arange(n)) if draws is None else draws
    shape = tuple(x.shape[1:])
    for s in range(samples):
        u = draws.normal((*key, s), shape, x.dtype) if method == "nes" else draws.signs((*key, s), shape, x.dtype)
        pair = torch.cat([x + sigma * u, x - sigma * u])
        loss = F.cross_entropy(clf.logits(pair), torch.cat([y, y]), reduction="none")
        diff = (loss[:n] - loss[n:]) / (2 * sigma)
        grad += per_sample(diff, x) * u
    return grad / samples


class ZeroOrderPGD(Attack):
    """PGD whose gradient is estimated by NES or SPSA: a white-box strength attack for black boxes."""

    name = "ZO-PGD"
    needs_gradients = False

    @declare(norm=NORM, steps=COUNT, estimator=Choice(ESTIMATORS), samples=COUNT, sigma=POSITIVE, random_state=INT_SEED)
    def __init__(self, norm: str = "linf", steps: int = 50, estimator: str = "nes", samples: int = 20,
                 sigma: float = 1e-3, step_size: float | None = None, random_state: int = 0,
                 progress: Progress | None = None) -> None:
        super().__init__(norm, progress)
        self.steps, self.estimator, self.samples, self.sigma = steps, estimator, samples, sigma
        self.step_size, self.random_state = step_size, random_state
        self.name = f"ZO-PGD ({estimator.upper()})"

    def _run(self, clf, x, y, eps):
        draws = self._draws()
        adv = x.clone()
        queries = torch.zeros(len(x), dtype=torch.long)
        alpha = per_sample(torch.full_like(eps, self.step_size) if self.step_size else 2.5 * eps / self.steps, x)
        active = torch.ones(len(x), dtype=torch.bool)
        for step in range(self.steps):
            idx = active.nonzero().squeeze(1)
            if len(idx) == 0 or not self._tick(step, self.steps):
                break
            g = estimate_gradient(clf, adv[idx], y[idx], method=self.estimator, samples=self.samples,
                                  sigma=self.sigma, draws=draws.rows(idx), key=(step,))
            queries[idx] += 2 * self.samples + 1
            moved = adv[idx] + alpha[idx] * normalized_step(g, self.norm)
            adv[idx] = clip_bounds(x[idx] + project(moved - x[idx], eps[idx], self.norm), clf.bounds)
            with torch.no_grad():
                active[idx] = clf.logits(adv[idx]).argmax(1) == y[idx]
        return adv, queries
