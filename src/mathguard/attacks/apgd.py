"""APGD (Croce & Hein, 2020): PGD with momentum and a step size that halves itself.

The step starts at 2·eps and is halved at checkpoints where the loss stopped improving
(fewer than 75 % of the steps since the last checkpoint increased it, or the step was not
halved at the last checkpoint and the best loss has not improved since: Croce & Hein §3.2,
the reference ``reduced_last_check``), restarting from the best point. Losses: cross-entropy,
DLR (scale-invariant, robust to saturated logits) and targeted DLR against the top
``n_target_classes`` other classes (one pass per target class; all passes run as one batch).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from mathguard.attacks.base import ROW_CHUNK, Attack, Progress
from mathguard.attacks.geometry import loss_gradient, per_sample, project
from mathguard.attacks.constraints import Constrained
from mathguard.attacks.pgd import random_start
from mathguard.errors import InputError
from mathguard.params import COUNT, INT_SEED, NORM, Choice, declare

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

    @declare(norm=NORM, loss=Choice(("ce", "dlr")), n_target_classes=COUNT, steps=COUNT, restarts=COUNT,
             random_state=INT_SEED)
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
        passes = [(r, t) for t in range(n_targets) for r in range(self.restarts)]
        idx = (~done).nonzero().squeeze(1)
        if len(idx) == 0:
            return best, queries
        # Every pass of every live point runs in one batch: row = (pass i, point).  A pass's numbers depend on
        # its point, target and key (i,) only, so each row gives what its pass gave when the passes ran one
        # after another; a point takes its first successful pass, and its later passes are dropped as soon as
        # an earlier one succeeds (they would never have run), so outcomes, adversarials and queries are the
        # sequential ones.
        P, m = len(passes), len(idx)
        rows_point = idx.repeat(P)
        rows_pass = torch.arange(P).repeat_interleave(m)
        target = None
        if self.targeted:  # t-th most likely class other than the true one
            ranking = logits0.argsort(dim=1, descending=True)[idx]
            others = ranking[ranking != y[idx, None]].view(m, -1)
            target = others[:, torch.tensor([t for _, t in passes])].t().reshape(-1)
        adv, fooled, row_queries = self._pass(clf, x[rows_point], y[rows_point], eps[rows_point], target,
                                                    draws.rows(rows_point), rows_pass, P)
        first = torch.full((m,), P, dtype=torch.long)
        won = fooled.view(P, m)
        for i in range(P - 1, -1, -1):
            first[won[i]] = i
        hit = first < P
        best[idx[hit]] = adv.view(P, m, *x.shape[1:])[first[hit], hit.nonzero().squeeze(1)]
        # A point's queries: those of its passes up to its first success (all of them when none succeeded).
        upto = torch.arange(P)[:, None] <= first.clamp_max(P - 1)[None, :]
        queries[idx] += (row_queries.view(P, m) * upto).sum(0)
        return best, queries

    def _pass(self, clf, x, y, eps, target, draws, keys, n_passes):
        """APGD on every row at once; row j draws its start under key ``(keys[j],)`` (its pass index).

        Rows are (pass, point) pairs of ``n_passes`` passes over the same points, pass-major: once a
        point's pass succeeds, its later passes stop (``cut``): the sequential loop would not have run them.
        """
        n = len(x)
        m = n // n_passes

        def proj(z: torch.Tensor, xr: torch.Tensor, er: torch.Tensor) -> torch.Tensor:
            """``z`` into the eps-balls and bounds of the rows whose clean inputs are ``xr``, budgets ``er``."""
            return self._clip(xr + project(z - xr, er, self.norm), xr, clf.bounds)

        row_queries = torch.zeros(n, dtype=torch.long)

        def evaluate(z: torch.Tensor, rows: torch.Tensor, need_grad: bool = True):
            """Loss, input gradient (None unless ``need_grad``) and fooled mask of the points ``z`` at ``rows``.

            Rows are independent: ROW_CHUNK rows per pass keep the activations in cache (the batched
            target classes make thousands of rows) and give every row the same numbers.
            """
            losses, grads, fooled = [], [], []
            for zp, part in zip(z.split(ROW_CHUNK), rows.split(ROW_CHUNK)):
                yp, tp = y[part], None if target is None else target[part]
                if need_grad:
                    zp = zp.detach().requires_grad_(True)
                    logits = clf.logits(zp)
                    loss = self._loss(logits, yp, tp)
                    grads.append(loss_gradient(loss, logits, yp, zp))
                    loss, logits = loss.detach(), logits.detach()
                else:
                    with torch.no_grad():
                        logits = clf.logits(zp)
                        loss = self._loss(logits, yp, tp)
                losses.append(loss)
                fooled.append(logits.argmax(1) != yp)
            row_queries[rows] += 1
            if len(losses) == 1:
                return losses[0], grads[0] if grads else None, fooled[0]
            return torch.cat(losses), torch.cat(grads) if grads else None, torch.cat(fooled)

        all_rows = torch.arange(n)
        start = torch.cat([random_start(x[i * m:(i + 1) * m], eps[i * m:(i + 1) * m], self.norm,
                                        draws.rows(slice(i * m, (i + 1) * m)), (i,)) for i in range(n_passes)])
        cur = proj(x + self._mask(start), x, eps)
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

        def cut() -> torch.Tensor:
            """Rows whose point already succeeded in an earlier pass."""
            won = found.view(n_passes, m).long()
            earlier = won.cumsum(0) - won  # successes of the same point in earlier passes
            return (earlier > 0).reshape(-1)

        # Rows cut at the start never ran in the sequential loop: their first evaluation is not a query.
        dropped = cut()
        row_queries[dropped] = 0
        found_or_cut = found | dropped
        for k in range(self.steps):
            rows = (~found_or_cut).nonzero().squeeze(1)
            if len(rows) == 0:
                break
            xr, er, cr = x[rows], eps[rows], cur[rows]
            step = per_sample(eta[rows], xr) * self._direction(grad[rows])
            z = proj(cr + step, xr, er)
            a = MOMENTUM if k > 0 else 1.0
            nxt = proj(cr + a * (z - cr) + (1 - a) * (cr - prev[rows]), xr, er)
            prev[rows] = cr
            cur[rows] = nxt
            # The last step's gradient would never be read: a forward pass alone.
            l_new, g_new, f_new = evaluate(nxt, rows, need_grad=k + 1 < self.steps)
            if g_new is not None:
                grad[rows] = g_new
            won = f_new.nonzero().squeeze(1)
            hit = rows[won]
            adv[hit] = nxt[won]
            found[hit] = True
            increases[rows] += (l_new > loss_prev[rows]).float()
            loss_prev[rows] = l_new
            improved = (l_new > best_loss[rows]).nonzero().squeeze(1)
            better = rows[improved]
            best_loss[better] = l_new[improved]
            best_x[better] = nxt[improved]
            if g_new is not None:
                best_grad[better] = g_new[improved]
            if len(hit):
                found_or_cut = found | cut()
            if k + 1 in cks:
                span = k + 1 - last_ck
                halve = halve_step(increases, span, reduced_last, best_at_ck, best_loss) & ~found
                eta = torch.where(halve, eta / 2, eta)
                cur[halve] = best_x[halve]
                prev[halve] = best_x[halve]
                grad[halve] = best_grad[halve]
                increases.zero_()
                last_ck, reduced_last, best_at_ck = k + 1, halve, best_loss.clone()
            if not self._tick(k + 1, self.steps):
                break  # cancelled: what was found so far
        return adv, found, row_queries
