"""The Square attack (Andriushchenko et al., 2020), L∞: random search over square-shaped sign patches.

No gradients at all: each iteration proposes re-drawing a random square window of the
perturbation at ±eps and keeps it where the margin loss falls. It is the standard
sanity check against gradient masking, because masked gradients do not slow it down.
Windows are placed at one random position per iteration for the whole batch (signs are
drawn per sample and channel), which keeps the loop vectorised.
"""

from __future__ import annotations

import math

import torch

from mathguard.attacks.base import Attack, Progress, clip_bounds, margin
from mathguard.errors import InputError


def _as_images(x: torch.Tensor) -> torch.Tensor:
    """View inputs as (N, C, H, W); a flat feature vector is one row of W features."""
    if x.ndim == 4:
        return x
    if x.ndim == 3:
        return x.unsqueeze(1)
    return x.reshape(len(x), 1, 1, -1)


def _fraction(p_init: float, it: int, total: int) -> float:
    """The paper's piecewise-constant schedule for the share of features a window covers."""
    t = int(it / max(total, 1) * 10_000)
    halvings = sum(t > b for b in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
    return p_init / 2 ** halvings


class Square(Attack):
    """Score-based black-box attack; ``queries`` is the per-sample budget of model evaluations."""

    name = "Square"
    needs_gradients = False

    def __init__(self, norm: str = "linf", queries: int = 1000, p_init: float = 0.05, seed: int = 0,
                 progress: Progress | None = None) -> None:
        super().__init__(norm, progress)
        if norm != "linf":
            raise InputError("Square is implemented for norm='linf'; use ZeroOrderPGD(norm='l2') for L2")
        if queries < 1 or not 0 < p_init <= 1:
            raise InputError("queries must be >= 1 and p_init in (0, 1]")
        self.queries, self.p_init, self.seed = queries, p_init, seed

    @torch.no_grad()
    def _run(self, clf, x, y, eps):
        gen = torch.Generator().manual_seed(self.seed)
        img = _as_images(x)
        n, c, h, w = img.shape
        e = eps.view(-1, 1, 1, 1)
        # Start from vertical stripes of ±eps: a strong first guess for L∞.
        stripes = (torch.randint(0, 2, (n, c, 1, w), generator=gen) * 2 - 1).to(x.dtype)
        best = clip_bounds(img + e * stripes, clf.bounds)
        loss = margin(clf.logits(best.view_as(x)), y)
        queries = torch.ones(n, dtype=torch.long)
        for it in range(self.queries - 1):
            active = (loss > 0).nonzero().squeeze(1)
            if len(active) == 0 or not self._tick(it, self.queries - 1):
                break
            p = _fraction(self.p_init, it, self.queries)
            if h == 1:
                sh, sw = 1, max(1, min(w, round(p * w)))
            else:
                side = max(1, min(h - 1, w - 1, round(math.sqrt(p * h * w))))
                sh = sw = side
            r = int(torch.randint(0, h - sh + 1, (1,), generator=gen))
            col = int(torch.randint(0, w - sw + 1, (1,), generator=gen))
            cand = best[active].clone()
            signs = (torch.randint(0, 2, (len(active), c, 1, 1), generator=gen) * 2 - 1).to(x.dtype)
            cand[:, :, r:r + sh, col:col + sw] = img[active][:, :, r:r + sh, col:col + sw] + e[active] * signs
            cand = clip_bounds(cand, clf.bounds)
            new_loss = margin(clf.logits(cand.view(len(active), *x.shape[1:])), y[active])
            queries[active] += 1
            better = new_loss < loss[active]
            best[active[better]] = cand[better]
            loss[active[better]] = new_loss[better]
        return best.view_as(x), queries
