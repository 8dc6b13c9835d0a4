"""HopSkipJump (Chen, Jordan & Wainwright, 2020): a minimal-norm attack that sees only predicted labels.

From an adversarial starting point it walks along the decision boundary: bisect towards
the clean input, estimate the boundary's normal from the signs of label flips around the
boundary point (Monte-Carlo, baseline-corrected), step along it with a geometrically
shrinking step that stays adversarial, bisect again. It needs ``clf.predict`` alone, so it
attacks an API that returns labels (``mg.wrap(model, labels_only=True)``).

The whole batch moves in lockstep; each sample spends at most ``queries`` predictions and
its count is reported. Per-feature bounds and immutable features (``low``, ``high``,
``mutable``) are respected by every probe, so tabular and 1-D inputs work as images do.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from mathguard.attacks.base import Attack, Progress
from mathguard.attacks.geometry import lp_norm, per_sample
from mathguard.attacks.constraints import FeatureBox, feature_box
from mathguard.models.base import Classifier
from mathguard.validate import integer
from mathguard.params import COUNT, INT_SEED, Int, NORM, declare

#: Predictions held back from each gradient estimate for the step search and bisection after it.
RESERVE = 40
#: Fewest probes worth a gradient estimate; a sample with less budget left stops.
MIN_EVALS = 10
#: Halvings of the step before the step search gives up for this iteration.
MAX_HALVINGS = 12


class HopSkipJump(Attack):
    """Decision-based minimal-norm attack (L2 or L∞); ``queries`` caps the predictions spent per sample."""

    name = "HopSkipJump"
    minimal_norm = True
    needs_gradients = False

    @declare(norm=NORM, queries=Int(RESERVE + MIN_EVALS + 1), init_evals=COUNT, max_evals=COUNT, init_tries=COUNT,
             random_state=INT_SEED)
    def __init__(self, norm: str = "l2", queries: int = 10_000, init_evals: int = 100, max_evals: int = 10_000,
                 init_tries: int = 100, random_state: int = 0, low: Any = None, high: Any = None, mutable: Any = None,
                 progress: Progress | None = None) -> None:
        super().__init__(norm, progress)
        self.queries, self.init_evals, self.init_tries = int(queries), int(init_evals), int(init_tries)
        self.max_evals = integer(max_evals, "max_evals", low=self.init_evals)  # against init_evals
        self.random_state = random_state
        self.low, self.high, self.mutable = low, high, mutable

    def params(self) -> dict[str, Any]:
        p = super().params()
        for k in ("low", "high", "mutable"):
            p[k] = None if p[k] is None else "per-feature"
        return p

    @torch.no_grad()
    def _run_minimal(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor,
                     eps_max: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        box = feature_box(clf, x, low=self.low, high=self.high, mutable=self.mutable)
        gen = torch.Generator().manual_seed(self.random_state)
        run = _Run(clf, x, y, box, self.norm, self.queries, gen)
        found = run.start(self.init_tries)
        rows = found.nonzero().squeeze(1)
        bound = run.bisect(rows, run.adv[rows])
        run.adv[rows] = bound
        dist = lp_norm(bound - x[rows], self.norm)
        d = x[0].numel()
        theta = 0.01 / (math.sqrt(d) if self.norm == "l2" else d)  # bisection tolerance, as in the authors' code
        t = 0
        while len(rows):
            t += 1
            left = self.queries - run.queries[rows]
            evals = torch.clamp(left - RESERVE, max=min(int(self.init_evals * math.sqrt(t)), self.max_evals))
            keep = evals >= MIN_EVALS
            rows, dist, evals = rows[keep], dist[keep], evals[keep]
            if not len(rows) or not self._tick(int(run.queries[rows].max()), self.queries):
                break
            # First probe scale: a tenth of the range; then proportional to the distance (the authors' choice).
            span = box.span if box.span is not None else float(dist.mean())
            delta = torch.full_like(dist, 0.1 * span) if t == 1 else (
                dist * (math.sqrt(d) if self.norm == "l2" else d) * theta)
            direction = run.normal(rows, delta, evals)
            step = run.step(rows, direction, dist / math.sqrt(t))
            bound = run.bisect(rows, step)
            run.adv[rows] = bound
            dist = lp_norm(bound - x[rows], self.norm)
        return run.adv, run.queries


class _Run:
    """State of one HopSkipJump run: the batch, its current boundary points and per-sample query counts."""

    def __init__(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor, box: FeatureBox, norm: str,
                 budget: int, gen: torch.Generator) -> None:
        self.clf, self.x, self.y, self.box, self.norm = clf, x, y, box, norm
        self.budget, self.gen = budget, gen
        self.adv = x.clone()
        self.queries = torch.zeros(len(x), dtype=torch.long)

    def fooled(self, points: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Label-only oracle for ``points`` belonging to samples ``rows``; one query per point."""
        self.queries.index_add_(0, rows.cpu(), torch.ones(len(rows), dtype=torch.long))
        return self.clf.predict(points) != self.y[rows]

    def _rand(self, shape: tuple[int, ...], like: torch.Tensor, uniform: bool) -> torch.Tensor:
        r = torch.rand(shape, generator=self.gen) * 2 - 1 if uniform else torch.randn(shape, generator=self.gen)
        return r.to(like)

    def start(self, tries: int) -> torch.Tensor:
        """Random points of the allowed set until each sample has an adversarial one; returns who has."""
        all_rows = torch.arange(len(self.x), device=self.x.device)
        done = self.fooled(self.x, all_rows)  # already misclassified: norm 0, nothing to do
        found = torch.zeros_like(done)
        scale = 1.0
        for _ in range(tries):
            rows = (~done & ~found).nonzero().squeeze(1)
            if not len(rows):
                break
            xr = self.x[rows]
            if self.box.low is not None and self.box.high is not None:
                lo, hi = self.box.low.to(xr), self.box.high.to(xr)
                cand = lo + (hi - lo) * (self._rand(tuple(xr.shape), xr, True) + 1) / 2
            else:  # unbounded: Gaussian noise of growing size around the input
                size = per_sample(xr.flatten(1).norm(dim=1).clamp_min(1.0), xr) / math.sqrt(xr[0].numel())
                cand = xr + scale * size * self._rand(tuple(xr.shape), xr, False)
                scale *= 1.5
            cand = self.box.project(cand, xr)
            ok = self.fooled(cand, rows)
            self.adv[rows[ok]] = cand[ok]
            found[rows[ok]] = True
        return found

    def _towards(self, adv: torch.Tensor, clean: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """The point at parameter ``alpha`` between ``clean`` (0) and ``adv``: a blend (L2) or a box (L∞)."""
        a = per_sample(alpha, adv)
        if self.norm == "l2":
            return clean + a * (adv - clean)
        return torch.max(torch.min(adv, clean + a), clean - a)

    def bisect(self, rows: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
        """Boundary points between each clean input and its adversarial ``adv``, always on the adversarial side."""
        clean = self.x[rows]
        d = clean[0].numel()
        if self.norm == "l2":
            hi = torch.ones(len(rows), dtype=adv.dtype, device=adv.device)
            tol = torch.full_like(hi, 0.01 / math.sqrt(d))
        else:
            hi = lp_norm(adv - clean, "linf")
            tol = torch.clamp(hi * 0.01 / d, max=0.01 / d)
        lo = torch.zeros_like(hi)
        while True:
            open_ = ((hi - lo) > tol) & (self.queries[rows] < self.budget).to(hi.device)
            idx = open_.nonzero().squeeze(1)
            if not len(idx):
                break
            mid = (lo[idx] + hi[idx]) / 2
            ok = self.fooled(self._towards(adv[idx], clean[idx], mid), rows[idx])
            hi[idx[ok]] = mid[ok]
            lo[idx[~ok]] = mid[~ok]
        return self._towards(adv, clean, hi)

    def normal(self, rows: torch.Tensor, delta: torch.Tensor, evals: torch.Tensor) -> torch.Tensor:
        """Monte-Carlo estimate of the boundary's outward normal at each current point: the update direction."""
        base = self.adv[rows]
        n, k = len(rows), int(evals.max())
        shape = (n, k, *base.shape[1:])
        u = self.box.mask(self._rand(shape, base, self.norm == "linf"))
        u = u / u.flatten(2).norm(dim=2).clamp_min(1e-12).view(n, k, *([1] * (base.ndim - 1)))
        used = torch.arange(k, device=base.device)[None, :] < evals.to(base.device)[:, None]  # (n, k)
        d = per_sample(delta, base).unsqueeze(1)
        probes = self.box.clip(base.unsqueeze(1) + d * u)
        u = (probes - base.unsqueeze(1)) / d  # the direction actually probed after clipping
        owner = rows[:, None].expand(n, k)[used]
        sign = torch.zeros(n, k, dtype=base.dtype, device=base.device)
        sign[used] = self.fooled(probes[used], owner).to(base.dtype) * 2 - 1
        m = evals.to(base)
        mean = sign.sum(1) / m
        # Baseline correction lowers the estimate's variance; when every probe agrees, fall back to the mean.
        centred = torch.where(used & (mean.abs() < 1)[:, None], sign - mean[:, None], sign)
        w = centred.view(n, k, *([1] * (base.ndim - 1)))
        grad = (w * u).sum(1) / per_sample(m, base)
        if self.norm == "linf":
            return self.box.mask(grad.sign())
        return grad / per_sample(lp_norm(grad, "l2").clamp_min(1e-12), grad)

    def step(self, rows: torch.Tensor, direction: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
        """Geometric step search: the largest of size, size/2, ... that keeps each point adversarial."""
        base = self.adv[rows]
        out = base.clone()
        size = size.clone()
        todo = torch.ones(len(rows), dtype=torch.bool, device=base.device)
        for _ in range(MAX_HALVINGS):
            idx = (todo & (self.queries[rows] < self.budget).to(base.device)).nonzero().squeeze(1)
            if not len(idx):
                break
            cand = self.box.project(base[idx] + per_sample(size[idx], base[idx]) * direction[idx],
                                    self.x[rows[idx]])
            ok = self.fooled(cand, rows[idx])
            out[idx[ok]] = cand[ok]
            todo[idx[ok]] = False
            size[idx[~ok]] /= 2
        return out
