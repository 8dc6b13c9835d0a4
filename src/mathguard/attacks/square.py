"""The Square attack (Andriushchenko et al., 2020): random search over square-shaped patches, L∞ and L2.

No gradients at all: each iteration proposes changing the perturbation inside a random
square window and keeps the change where the margin loss falls. It is the standard
sanity check against gradient masking, because masked gradients do not slow it down.
L∞ re-draws the window at ±eps. L2 moves the perturbation mass of a second window into
the first, shaped as a centre-peaked bump with halves of opposite sign, so the total
norm stays exactly eps. Each point draws its own window position and signs (per channel)
from its id (``attacks.draws``), so its attack is the same in any batch or shard.
"""

from __future__ import annotations

import math

import torch

from mathguard.attacks.base import Attack, Progress
from mathguard.attacks.geometry import clip_bounds, margin
from mathguard.attacks.draws import PointDraws
from mathguard.errors import InputError
from mathguard.params import COUNT, INT_SEED, NORM, Real, declare


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

    @declare(norm=NORM, queries=COUNT, p_init=Real(0.0, 1.0, open_low=True), random_state=INT_SEED)
    def __init__(self, norm: str = "linf", queries: int = 1000, p_init: float = 0.05, random_state: int = 0,
                 progress: Progress | None = None) -> None:
        super().__init__(norm, progress)
        if queries < 1 or not 0 < p_init <= 1:
            raise InputError("queries must be >= 1 and p_init in (0, 1]")
        self.queries, self.p_init, self.random_state = queries, p_init, random_state

    @torch.no_grad()
    def _run(self, clf, x, y, eps):
        draws = self._draws()
        img = _as_images(x)
        e = eps.view(-1, 1, 1, 1)
        init, propose = (_l2_init, _l2_proposal) if self.norm == "l2" else (_linf_init, _linf_proposal)
        best = clip_bounds(img + init(img, e, draws), clf.bounds)
        loss = margin(clf.logits(best.view_as(x)), y)
        queries = torch.ones(len(x), dtype=torch.long)
        for it in range(self.queries - 1):
            active = (loss > 0).nonzero().squeeze(1)
            if len(active) == 0 or not self._tick(it, self.queries - 1):
                break
            p = _fraction(self.p_init, it, self.queries)
            cand = clip_bounds(propose(img[active], best[active], e[active], p, draws.rows(active), it + 1),
                               clf.bounds)
            new_loss = margin(clf.logits(cand.view(len(active), *x.shape[1:])), y[active])
            queries[active] += 1
            better = new_loss < loss[active]
            best[active[better]] = cand[better]
            loss[active[better]] = new_loss[better]
        return best.view_as(x), queries


def _linf_init(img: torch.Tensor, e: torch.Tensor, draws: PointDraws) -> torch.Tensor:
    # Vertical stripes of ±eps: a strong first guess for L∞.
    _, c, _, w = img.shape
    return e * draws.signs((0,), (c, 1, w), img.dtype)


def _linf_proposal(xa: torch.Tensor, best: torch.Tensor, e: torch.Tensor, p: float, draws: PointDraws,
                   it: int) -> torch.Tensor:
    """Re-draw one window of the perturbation per point at ±eps (one sign per point and channel)."""
    _, c, h, w = xa.shape
    sh, sw = _window(p, h, w, minimum=1, margin=1)
    inside = _inside(*_offsets(draws, (it, 0), h, w, sh, sw), sh, sw)
    signs = draws.signs((it, 1), (c, 1, 1), xa.dtype)
    return torch.where(inside, xa + e * signs, best)


def _l2_init(img: torch.Tensor, e: torch.Tensor, draws: PointDraws) -> torch.Tensor:
    # Tiles of opposite-sign bumps with random signs, scaled to norm eps.
    _, c, h, w = img.shape
    tile = (max(1, h // 5), max(1, w // 5)) if h > 1 else (1, max(2, w // 5))
    delta = torch.zeros_like(img)
    for t, (r, col) in enumerate((r, col) for r in range(0, h - tile[0] + 1, tile[0])
                                 for col in range(0, w - tile[1] + 1, tile[1])):
        signs = draws.signs((0, t, 0), (c, 1, 1), img.dtype)
        bump = _bumps(*tile, draws, (0, t, 1)).to(img.dtype).unsqueeze(1)
        delta[:, :, r:r + tile[0], col:col + tile[1]] = bump * signs
    return _rescale(delta, e)


def _l2_proposal(xa: torch.Tensor, best: torch.Tensor, e: torch.Tensor, p: float, draws: PointDraws,
                 it: int) -> torch.Tensor:
    """Move the mass of a second window into a first one, reshaped as a fresh bump; total norm stays eps."""
    _, c, h, w = xa.shape
    sh, sw = _window(p, h, w, minimum=2, margin=0)
    rows1, cols1 = _offsets(draws, (it, 0), h, w, sh, sw)
    win1 = _inside(rows1, cols1, sh, sw)
    win2 = _inside(*_offsets(draws, (it, 1), h, w, sh, sw), sh, sw)
    d = best - xa
    # Mass available to the new window: what both windows held, plus any slack below eps.
    total = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    held = (d * (win1 | win2)).pow(2).sum(dim=(2, 3), keepdim=True)
    budget = ((e ** 2 - total ** 2).clamp_min(0) / c + held).sqrt()
    signs = draws.signs((it, 2), (c, 1, 1), xa.dtype)
    old = d * win1
    old = old / old.pow(2).sum(dim=(2, 3), keepdim=True).sqrt().clamp_min(1e-12)
    bump = _place(_bumps(sh, sw, draws, (it, 3)).to(xa.dtype), rows1, cols1, win1)
    new = (bump * signs + old) * win1
    new = new / new.pow(2).sum(dim=(2, 3), keepdim=True).sqrt().clamp_min(1e-12) * budget
    d = torch.where(win1, new, d.masked_fill(win2, 0.0))
    return xa + _rescale(d, e)


def _offsets(draws: PointDraws, key: tuple[int, ...], h: int, w: int, sh: int, sw: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's row (points, h, 1) and column (points, 1, w) offset from its point's window corner.

    The corner is uniform over the positions where an sh × sw window fits.
    """
    r, col = draws.integers((*key, 0), h - sh + 1), draws.integers((*key, 1), w - sw + 1)
    return torch.arange(h).view(1, h, 1) - r.view(-1, 1, 1), torch.arange(w).view(1, 1, w) - col.view(-1, 1, 1)


def _inside(rows: torch.Tensor, cols: torch.Tensor, sh: int, sw: int) -> torch.Tensor:
    """(points, 1, h, w) mask of each point's own sh × sw window, from its offsets."""
    return ((rows >= 0) & (rows < sh) & (cols >= 0) & (cols < sw)).unsqueeze(1)


def _place(patterns: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Each point's (sh, sw) pattern written at its window (zero elsewhere): (points, 1, h, w)."""
    sh, sw = patterns.shape[1:]
    point = torch.arange(len(patterns)).view(-1, 1, 1)
    return patterns[point, rows.clamp(0, sh - 1), cols.clamp(0, sw - 1)].unsqueeze(1) * inside


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


def _bumps(sh: int, sw: int, draws: PointDraws, key: tuple[int, ...]) -> torch.Tensor:
    """Each point's unit-norm window pattern (points, sh, sw): two centre-peaked halves of opposite sign.

    The halves have a 1/(1+d)² falloff; a square window splits into top/bottom or left/right
    at random, per point.
    """

    def half(a: int, b: int) -> torch.Tensor:
        rows = (torch.arange(a) - (a - 1) / 2).abs().view(-1, 1)
        cols = (torch.arange(b) - (b - 1) / 2).abs().view(1, -1)
        return 1.0 / (1.0 + torch.maximum(rows, cols)) ** 2

    def unit(pattern: torch.Tensor) -> torch.Tensor:
        return pattern / pattern.norm()

    n = len(draws)
    if sh == 1 and sw == 1:
        return torch.ones(n, 1, 1)
    by_rows = unit(torch.cat([half(sh // 2, sw), -half(sh - sh // 2, sw)], dim=0)) if sh > 1 else None
    by_cols = unit(torch.cat([half(sh, sw // 2), -half(sh, sw - sw // 2)], dim=1)) if sw > 1 else None
    if by_rows is None or by_cols is None or sh != sw:  # a column splits by rows; any other shape by columns
        return (by_rows if by_cols is None else by_cols).expand(n, sh, sw)
    split_rows = draws.uniform(key) < 0.5
    return torch.where(split_rows.view(-1, 1, 1), by_rows, by_cols)
