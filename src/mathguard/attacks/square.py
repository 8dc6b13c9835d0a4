"""The Square attack (Andriushchenko et al., 2020): random search over square-shaped patches, L∞ and L2.

No gradients at all: each iteration proposes changing the perturbation inside a random
square window and keeps the change where the margin loss falls. It is the standard
sanity check against gradient masking, because masked gradients do not slow it down.
L∞ re-draws the window at ±eps. L2 moves the perturbation mass of a second window into
the first, shaped as a centre-peaked bump with halves of opposite sign, so the total
norm stays exactly eps. Windows are placed at one random position per iteration for the
whole batch (signs are drawn per sample and channel), which keeps the loop vectorised.
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
        if queries < 1 or not 0 < p_init <= 1:
            raise InputError("queries must be >= 1 and p_init in (0, 1]")
        self.queries, self.p_init, self.seed = queries, p_init, seed

    @torch.no_grad()
    def _run(self, clf, x, y, eps):
        gen = torch.Generator().manual_seed(self.seed)
        img = _as_images(x)
        e = eps.view(-1, 1, 1, 1)
        init, propose = (self._l2_init, self._l2_proposal) if self.norm == "l2" else (self._linf_init,
                                                                                     self._linf_proposal)
        best = clip_bounds(img + init(img, e, gen), clf.bounds)
        loss = margin(clf.logits(best.view_as(x)), y)
        queries = torch.ones(len(x), dtype=torch.long)
        for it in range(self.queries - 1):
            active = (loss > 0).nonzero().squeeze(1)
            if len(active) == 0 or not self._tick(it, self.queries - 1):
                break
            p = _fraction(self.p_init, it, self.queries)
            cand = clip_bounds(propose(img[active], best[active], e[active], p, gen), clf.bounds)
            new_loss = margin(clf.logits(cand.view(len(active), *x.shape[1:])), y[active])
            queries[active] += 1
            better = new_loss < loss[active]
            best[active[better]] = cand[better]
            loss[active[better]] = new_loss[better]
        return best.view_as(x), queries

    @staticmethod
    def _linf_init(img: torch.Tensor, e: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        # Vertical stripes of ±eps: a strong first guess for L∞.
        n, c, _, w = img.shape
        return e * (torch.randint(0, 2, (n, c, 1, w), generator=gen) * 2 - 1).to(img.dtype)

    @staticmethod
    def _linf_proposal(xa: torch.Tensor, best: torch.Tensor, e: torch.Tensor, p: float,
                       gen: torch.Generator) -> torch.Tensor:
        """Re-draw one window of the perturbation at ±eps (one sign per sample and channel)."""
        n, c, h, w = xa.shape
        sh, sw = _window(p, h, w, minimum=1, margin=1)
        r = int(torch.randint(0, h - sh + 1, (1,), generator=gen))
        col = int(torch.randint(0, w - sw + 1, (1,), generator=gen))
        cand = best.clone()
        signs = (torch.randint(0, 2, (n, c, 1, 1), generator=gen) * 2 - 1).to(xa.dtype)
        cand[:, :, r:r + sh, col:col + sw] = xa[:, :, r:r + sh, col:col + sw] + e * signs
        return cand

    @staticmethod
    def _l2_init(img: torch.Tensor, e: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        # Tiles of opposite-sign bumps with random signs, scaled to norm eps.
        n, c, h, w = img.shape
        tile = (max(1, h // 5), max(1, w // 5)) if h > 1 else (1, max(2, w // 5))
        delta = torch.zeros_like(img)
        for r in range(0, h - tile[0] + 1, tile[0]):
            for col in range(0, w - tile[1] + 1, tile[1]):
                signs = (torch.randint(0, 2, (n, c, 1, 1), generator=gen) * 2 - 1).to(img.dtype)
                delta[:, :, r:r + tile[0], col:col + tile[1]] = _bump(*tile, gen).to(img.dtype) * signs
        return _rescale(delta, e)

    @staticmethod
    def _l2_proposal(xa: torch.Tensor, best: torch.Tensor, e: torch.Tensor, p: float,
                     gen: torch.Generator) -> torch.Tensor:
        """Move the mass of a second window into a first one, reshaped as a fresh bump; total norm stays eps."""
        n, c, h, w = xa.shape
        sh, sw = _window(p, h, w, minimum=2, margin=0)
        r1, c1, r2, c2 = (int(torch.randint(0, lim, (1,), generator=gen))
                          for lim in (h - sh + 1, w - sw + 1, h - sh + 1, w - sw + 1))
        d = best - xa
        win1 = (slice(None), slice(None), slice(r1, r1 + sh), slice(c1, c1 + sw))
        win2 = (slice(None), slice(None), slice(r2, r2 + sh), slice(c2, c2 + sw))
        both = torch.zeros_like(d)
        both[win1], both[win2] = 1.0, 1.0
        # Mass available to the new window: what both windows held, plus any slack below eps.
        total = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        held = (d * both).pow(2).sum(dim=(2, 3), keepdim=True)
        budget = ((e ** 2 - total ** 2).clamp_min(0) / c + held).sqrt()
        signs = (torch.randint(0, 2, (n, c, 1, 1), generator=gen) * 2 - 1).to(xa.dtype)
        old = d[win1] / d[win1].pow(2).sum(dim=(2, 3), keepdim=True).sqrt().clamp_min(1e-12)
        new = _bump(sh, sw, gen).to(xa.dtype) * signs + old
        new = new / new.pow(2).sum(dim=(2, 3), keepdim=True).sqrt().clamp_min(1e-12) * budget
        d[win2] = 0.0
        d[win1] = new
        return xa + _rescale(d, e)


def _window(p: float, h: int, w: int, minimum: int, margin: int) -> tuple[int, int]:
    """Window covering a share p of the input: a square for images, a run of features for flat inputs."""
    if h == 1:
        return 1, max(minimum if w >= minimum else 1, min(w, round(p * w)))
    side = max(1, min(h - margin, w - margin, round(math.sqrt(p * h * w))))
    return side, side


def _rescale(delta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Scale each sample's perturbation to L2 norm exactly eps (a zero perturbation stays zero)."""
    norms = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    return delta / norms.clamp_min(1e-12) * eps


def _bump(sh: int, sw: int, gen: torch.Generator) -> torch.Tensor:
    """Unit-norm window pattern: two centre-peaked halves of opposite sign (1/(1+d)² falloff)."""

    def half(a: int, b: int) -> torch.Tensor:
        rows = (torch.arange(a) - (a - 1) / 2).abs().view(-1, 1)
        cols = (torch.arange(b) - (b - 1) / 2).abs().view(1, -1)
        return 1.0 / (1.0 + torch.maximum(rows, cols)) ** 2

    if sh == 1 and sw == 1:
        return torch.ones(1, 1)
    split_rows = sh > 1 and (sh == sw and bool(torch.randint(0, 2, (1,), generator=gen)) or sw == 1)
    if split_rows:
        top = sh // 2
        pattern = torch.cat([half(top, sw), -half(sh - top, sw)], dim=0)
    else:
        left = sw // 2
        pattern = torch.cat([half(sh, left), -half(sh, sw - left)], dim=1)
    return pattern / pattern.norm()
