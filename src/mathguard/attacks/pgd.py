"""FGSM and PGD (Madry et al.): steepest ascent on the cross-entropy inside an eps-ball."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from mathguard.attacks.base import Attack, Progress
from mathguard.attacks.geometry import loss_gradient, lp_norm, per_sample, project
from mathguard.attacks.constraints import Constrained
from mathguard.attacks.draws import PointDraws
from mathguard.errors import InputError
from mathguard.models.base import Classifier
from mathguard.params import COUNT, INT_SEED, NORM, Choice, Optional, Real, declare


def loss_and_grad(clf: Classifier, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample CE, its input gradient, and the logits, from one forward+backward.

    The loss is summed so each sample's gradient is its own (no 1/N scaling).
    """
    x = x.detach().requires_grad_(True)
    logits = clf.logits(x)
    loss = F.cross_entropy(logits, y, reduction="none")
    grad = loss_gradient(loss, logits, y, x)
    return loss.detach(), grad, logits.detach()


def random_start(x: torch.Tensor, eps: torch.Tensor, norm: str, draws: PointDraws,
                 key: tuple[int, ...] = (0,)) -> torch.Tensor:
    """A uniform point of the eps-ball (Linf) or a uniform direction at a uniform radius (L2), per point."""
    e = per_sample(eps, x)
    shape = tuple(x.shape[1:])
    if norm == "linf":
        return (draws.uniform(key, shape, x.dtype) * 2 - 1) * e
    d = draws.normal(key, shape, x.dtype)
    d = d / per_sample(lp_norm(d, "l2").clamp_min(1e-12), d)
    return d * e * per_sample(draws.uniform((*key, 1), (), x.dtype), x)


class FGSM(Attack):
    """One step of size eps along the sign (Linf) or normalised (L2) gradient."""

    name = "FGSM"

    def _run(self, clf, x, y, eps):
        _, grad, _ = loss_and_grad(clf, x, y)
        adv = self._clip(x + per_sample(eps, x) * self._direction(grad), x, clf.bounds)
        self._tick(1, 1)
        return adv, torch.ones(len(x), dtype=torch.long)


class PGD(Constrained, Attack):
    """Projected gradient descent with random start and restarts.

    ``mode="fixed"``: maximise the loss inside each budget (one vectorised run per eps list).
    ``mode="minimal"``: bisect the budget per sample (``search_steps`` rounds of PGD) to find
    the smallest eps that fools it; the result is minimal-norm and answers any eps via ``at``.
    ``early_stop``: samples already fooled stop consuming compute (turn off to reproduce the
    plain fixed-iteration algorithm exactly).
    ``low``/``high``/``mutable``/``onehot``: per-feature bounds, immutable features and one-hot
    groups (see :mod:`mathguard.attacks.constraints`); ``onehot`` needs ``mode="fixed"``.
    """

    name = "PGD"

    @declare(norm=NORM, steps=COUNT, restarts=COUNT, step_size=Optional(Real(0.0, open_low=True)),
             mode=Choice(("fixed", "minimal")), search_steps=COUNT, random_state=INT_SEED)
    def __init__(self, norm: str = "linf", steps: int = 40, restarts: int = 1,
                 step_size: float | None = None, random_start: bool = True, mode: str = "fixed",
                 early_stop: bool = True, search_steps: int = 10, random_state: int = 0, low: Any = None,
                 high: Any = None, mutable: Any = None, onehot: Any = None,
                 progress: Progress | None = None) -> None:
        super().__init__(norm, progress)
        if steps < 1 or restarts < 1 or search_steps < 1:
            raise InputError("steps, restarts and search_steps must be >= 1")
        if mode not in ("fixed", "minimal"):
            raise InputError(f"mode must be 'fixed' or 'minimal', got {mode!r}")
        if step_size is not None and not step_size > 0:
            raise InputError(f"step_size must be > 0, got {step_size}")
        self.steps, self.restarts, self.step_size = steps, restarts, step_size
        self.random_start, self.mode, self.early_stop = random_start, mode, early_stop
        self.search_steps, self.random_state = search_steps, random_state
        self.minimal_norm = mode == "minimal"
        self._set_constraints(low, high, mutable, onehot)

    def _step_size(self, eps: torch.Tensor) -> torch.Tensor:
        if self.step_size is not None:
            return torch.full_like(eps, self.step_size)
        return 2.5 * eps / self.steps

    def _run(self, clf, x, y, eps, *, ids: torch.Tensor | None = None):
        draws = self._draws(ids)
        best = x.clone()
        done = torch.zeros(len(x), dtype=torch.bool)
        queries = torch.zeros(len(x), dtype=torch.long)
        alpha = self._step_size(eps)
        total = self.steps * self.restarts
        for r in range(self.restarts):
            idx = (~done).nonzero().squeeze(1)
            if len(idx) == 0:
                break
            adv, finished = self._restart(clf, x[idx], y[idx], eps[idx], alpha[idx], draws.rows(idx), r, queries,
                                          idx, r * self.steps, total)
            best[idx] = adv
            if not finished or r == self.restarts - 1:  # cancelled, or no restart left to spare
                break
            # Which points this restart fooled, so the next one skips them; the caller checks the last one.
            with torch.no_grad():
                done[idx] = clf.logits(adv).argmax(1) != y[idx]
            queries[idx] += 1
        return best, queries

    def _restart(self, clf, x, y, eps, alpha, draws, restart, queries, idx, offset, total):
        """One run of ``steps`` steps from a fresh start → (adversarial, False if cancelled)."""
        adv = x.clone()
        if self.random_start:
            start = random_start(x, eps, self.norm, draws, (restart,))
            adv = self._clip(x + self._mask(start), x, clf.bounds)
        a = per_sample(alpha, x)
        active = torch.ones(len(x), dtype=torch.bool)
        for step in range(self.steps):
            n_active = int(active.sum())
            if n_active == 0:
                break
            # a full slice while everyone is active: no gather/scatter copies per step
            ai = slice(None) if n_active == len(x) else active.nonzero().squeeze(1)
            _, grad, logits = loss_and_grad(clf, adv[ai], y[ai])
            queries[idx[ai]] += 1
            if self.early_stop:
                fooled = logits.argmax(1) != y[ai]
                if fooled.any():
                    ai = active.nonzero().squeeze(1)
                    active[ai[fooled]] = False
                    ai, grad = ai[~fooled], grad[~fooled]
            new = adv[ai] + a[ai] * self._direction(grad)
            delta = project(new - x[ai], eps[ai], self.norm)
            adv[ai] = self._clip(x[ai] + delta, x[ai], clf.bounds)
            if not self._tick(offset + step + 1, total):
                return adv, False
        return adv, True

    def _run_minimal(self, clf, x, y, eps_max):
        if eps_max is None:
            if clf.bounds is None:
                raise InputError("PGD minimal mode on an unbounded model needs eps (the largest budget to search)")
            span = clf.bounds[1] - clf.bounds[0]
            eps_max = span if self.norm == "linf" else span * math.sqrt(x[0].numel())
        lo = torch.zeros(len(x))
        hi = torch.full((len(x),), float(eps_max))
        best = x.clone()
        queries = torch.zeros(len(x), dtype=torch.long)
        with torch.no_grad():
            clean_fooled = clf.predict(x) != y
        queries += 1
        found = clean_fooled.clone()
        # First try the largest budget; samples it cannot fool are given up.
        todo = (~clean_fooled).nonzero().squeeze(1)
        for s in range(self.search_steps + 1):
            if len(todo) == 0:
                break
            mid = hi[todo] if s == 0 else (lo[todo] + hi[todo]) / 2
            adv, q = self._run(clf, x[todo], y[todo], mid, ids=self._ids[todo])
            queries[todo] += q
            with torch.no_grad():
                ok = clf.predict(adv) != y[todo]
            best[todo[ok]] = adv[ok]
            found[todo[ok]] = True
            hi[todo[ok]] = lp_norm(adv[ok] - x[todo[ok]], self.norm)
            lo[todo[~ok]] = mid[~ok]
            todo = todo[found[todo] & ~clean_fooled[todo]] if s == 0 else todo
            if not self._tick(s + 1, self.search_steps + 1):
                break
        return best, queries

    def params(self) -> dict[str, Any]:
        p = super().params()
        p.pop("minimal_norm", None)
        return p
