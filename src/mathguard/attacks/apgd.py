"""APGD (Croce & Hein, 2020): PGD with momentum and a step size that halves itself.

The step starts at 2·eps and is halved at checkpoints where the loss stopped improving
(fewer than 75 % of the steps since the last checkpoint increased it, or the step was not
halved at the last checkpoint and the best loss has not improved since: Croce & Hein §3.2,
the reference ``reduced_last_check``), restarting from the best point. Losses: cross-entropy,
DLR (scale-invariant, robust to saturated logits) and targeted DLR against the top
``n_target_classes`` other classes (one pass per target class).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from mathguard.attacks.base import Attack, Progress, loss_gradient, per_sample, project
from mathguard.attacks.constraints import Constrained
from mathguard.attacks.pgd import random_start
from mathguard.errors import InputError
from mathguard.deprecation import renamed

RHO, MOMENTUM = 0.75, 0.75


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample (targeted) difference-of-logits-ratio loss; larger means closer to fooling."""
    s = logits.sort(dim=1, descending=True).values
    zy = logits.gather(1, y[:, None]).squeeze(1)
    if target is None:
        other = logits.clone()
        other.scatter_(1, y[:, None], -math.inf)
        return -(zy - other.amax(1)) / (s[:, 0] - s[:, 2] + 1e-12)
    zt = logits.gather(1, target[:, None]).squeeze(1)
    return -(zy - zt) / (s[:, 0] - (s[:, 2] + s[:, 3]) / 2 + 1e-12)


def checkpoints(steps: int) -> list[int]:
    """Iterations at which the step size is reconsidered (the paper's p_j schedule)."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({math.ceil(q * steps - 1e-9) for q in p[1:] if q < 1})  # 1e-9: float noise in p


def halve_step(increases: torch.Tensor, span: int, reduced_last: torch.Tensor, best_at_ck: torch.Tensor,
               best_loss: torch.Tensor) -> torch.Tensor:
    """Which samples halve their step at a checkpoint (Croce & Hein 2020, conditions 1 and 2).

    1. fewer than ρ·span of the steps since the last checkpoint increased the loss;
    2. the step was not halved at the last checkpoint and the best loss did not improve since.
    Condition 2 reads the step *before* the last halving, so it can never fire twice in a row.
    """
    return (increases < RHO * span) | (~reduced_last & (best_loss <= best_at_ck))


class APGD(Constrained, Attack):
    """Auto-PGD, Linf or L2, CE or DLR loss, untargeted or targeted (top classes).

    ``low``/``high``/``mutable``/``onehot``: per-feature constraints, as for :class:`PGD`.
    """

    name = "APGD"

    @renamed(seed="random_state")
    def __init__(self, norm: str = "linf", loss: str = "ce", targeted: bool = False, n_target_classes: int = 9,
                 steps: int = 100, restarts: int = 1, random_state: int = 0, low: Any = None, high: Any = None,
                 mutable: Any = None, onehot: Any = None, progress: Progress | None = None) -> None:
        super().__init__(norm, progress)
        if loss not in ("ce", "dlr"):
            raise InputError(f"loss must be 'ce' or 'dlr', got {loss!r}")
        if steps < 1 or restarts < 1 or n_target_classes < 1:
            raise InputError("steps, restarts and n_target_classes must be >= 1")
        if targeted and loss != "dlr":
            raise InputError("targeted APGD uses the DLR loss: pass loss='dlr'")
        self.loss, self.targeted, self.n_target_classes = loss, targeted, n_target_classes
        self.steps, self.restarts, self.random_state = steps, restarts, random_state
        self._set_constraints(low, high, mutable, onehot)
        if targeted:
            self.name = "APGD-T"

    def _loss(self, logits, y, target):
        if self.loss == "ce":
            return F.cross_entropy(logits, y, reduction="none")
        return dlr_loss(logits, y, target)

    def _run(self, clf, x, y, eps):
        if self.loss == "dlr" and clf.n_classes < (4 if self.targeted else 3):
            raise InputError(f"the DLR loss needs at least {4 if self.targeted else 3} classes, "
                             f"model has {clf.n_classes}")
        draws = self._draws()
        best = x.clone()
        queries = torch.zeros(len(x), dtype=torch.long)
        with torch.no_grad():
            logits0 = clf.logits(x)
        queries += 1
        done = logits0.argmax(1) != y
        n_targets = min(self.n_target_classes, clf.n_classes - 1) if self.targeted else 1
        ranking = logits0.argsort(dim=1, descending=True)
        passes = [(r, t) for t in range(n_targets) for r in range(self.restarts)]
        for i, (r, t) in enumerate(passes):
            idx = (~done).nonzero().squeeze(1)
            if len(idx) == 0:
                break
            target = None
            if self.targeted:  # t-th most likely class other than the true one
                others = ranking[idx][ranking[idx] != y[idx, None]].view(len(idx), -1)
                target = others[:, t]
            adv, fooled, stop = self._pass(clf, x[idx], y[idx], eps[idx], target, draws.rows(idx), queries, idx, i,
                                     len(passes))
            best[idx[fooled]] = adv[fooled]
            done[idx[fooled]] = True
            if stop:
                break
        return best, queries

    def _pass(self, clf, x, y, eps, target, draws, queries, idx, offset, n_passes):
        n = len(x)

        def proj(z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            return self._clip(x[rows] + project(z - x[rows], eps[rows], self.norm), x[rows], clf.bounds)

        def evaluate(z: torch.Tensor, rows: torch.Tensor):
            z = z[rows].detach().requires_grad_(True)
            logits = clf.logits(z)
            loss = self._loss(logits, y[rows], None if target is None else target[rows])
            g = loss_gradient(loss, logits, y[rows], z)
            queries[idx[rows]] += 1
            return loss.detach(), g, logits.detach().argmax(1) != y[rows]

        all_rows = torch.arange(n)
        start = random_start(x, eps, self.norm, draws, (offset,))
        cur = proj(x + self._mask(start), all_rows)
        prev = cur.clone()
        eta = 2 * eps.clone()
        loss, grad, fooled = evaluate(cur, all_rows)
        best_loss, best_x, best_grad = loss.clone(), cur.clone(), grad.clone()
        found = fooled.clone()
        adv = torch.where(per_sample(fooled, x), cur, x)
        increases = torch.zeros(n)
        last_ck, reduced_last, best_at_ck = 0, torch.zeros(n, dtype=torch.bool), best_loss.clone()
        cks = set(checkpoints(self.steps))
        loss_prev = loss.clone()
        for k in range(self.steps):
            rows = (~found).nonzero().squeeze(1)
            if len(rows) == 0:
                break
            step = per_sample(eta[rows], x[rows]) * self._direction(grad[rows])
            z = proj(cur[rows] + step, rows)
            a = MOMENTUM if k > 0 else 1.0
            nxt = proj(cur[rows] + a * (z - cur[rows]) + (1 - a) * (cur[rows] - prev[rows]), rows)
            prev[rows] = cur[rows]
            cur[rows] = nxt
            l_new, g_new, f_new = evaluate(cur, rows)
            grad[rows] = g_new
            hit = rows[f_new]
            adv[hit] = cur[hit]
            found[hit] = True
            increases[rows] += (l_new > loss_prev[rows]).float()
            loss_prev[rows] = l_new
            improved = l_new > best_loss[rows]
            best_loss[rows[improved]] = l_new[improved]
            best_x[rows[improved]] = cur[rows[improved]]
            best_grad[rows[improved]] = g_new[improved]
            if k + 1 in cks:
                span = k + 1 - last_ck
                halve = halve_step(increases, span, reduced_last, best_at_ck, best_loss) & ~found
                eta = torch.where(halve, eta / 2, eta)
                cur[halve] = best_x[halve]
                prev[halve] = best_x[halve]
                grad[halve] = best_grad[halve]
                increases.zero_()
                last_ck, reduced_last, best_at_ck = k + 1, halve, best_loss.clone()
            if not self._tick(offset * self.steps + k + 1, n_passes * self.steps):
                return adv, found, True
        return adv, found, False
