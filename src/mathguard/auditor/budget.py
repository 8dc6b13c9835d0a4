"""Fit the audit into a time budget: pilots and a timing probe decide points and steps.

A heavy lens gets its share of what is left when it starts, split among the heavy lenses still to run. The attack and
certificate lenses first run two short pilots (4 and 8 points, a fifth of the
iterations), which give a fixed cost and a cost per point, and take the number of points
that fits what remains of their share; when even the minimum would not fit, attack
iterations are cut too. The detectors' adaptive attacks are sized from a probe of one gradient step at two
batch sizes (fixed cost per step plus cost per row). Everything scaled down is written
into the report with how much wider the uncertainty becomes (binomial ±1.96·√(¼/n)).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode

SHARES = {"adversarial": 0.45, "certified": 0.15, "detectors": 0.25}  # the rest: cheap lenses and reserve
MIN_POINTS = 20
PILOT = 8


class OverBudget(Exception):
    """Not even the minimum number of points fits what is left of the budget; the lens is skipped."""


@dataclass
class Plan:
    """The budget, the clock, the step cost, and what was scaled down to fit."""

    budget: float | None
    started: float = field(default_factory=time.perf_counter)
    step_fixed: float = 0.0  # seconds of one forward+backward call, whatever the batch
    step_per_row: float = 0.0
    notes: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # lenses not finished yet, in order

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return math.inf if self.budget is None else self.budget - self.elapsed()

    def share(self, lens: str) -> float:
        """Seconds this lens may spend: what is left (less a 5 % reserve), split among the heavy lenses still to
        run in proportion to their shares, so time the earlier lenses did not use is spent, not lost."""
        if self.budget is None:
            return math.inf
        heavy = {name for name in self.pending if name in SHARES} | {lens}
        return max(0.0, (self.left() - 0.05 * self.budget) * SHARES[lens] / sum(SHARES[name] for name in heavy))

    def _note(self, what: str, n: int, wanted: int) -> None:
        if n < wanted:
            self.notes.append(f"{what}: {n} instead of {wanted} to fit the budget (binomial intervals "
                              f"{math.sqrt(wanted / n):.1f}× wider, ±{1.96 * math.sqrt(0.25 / n):.0%} at most)")

    def points_by_pilot(self, lens: str, wanted: int, steps: int,
                        run: Callable[[int, int], None]) -> tuple[int, int]:
        """(points, steps) for ``lens``, from two short pilots of ``run(n, steps)``.

        Pilots on PILOT/2 and PILOT points at a fifth of the iterations give a fixed cost
        and a cost per point (batches vectorise, so both matter); both are taken as
        proportional to the iterations.
        """
        if self.budget is None or wanted <= PILOT:
            return wanted, steps
        share = self.share(lens)
        pilot_steps = min(steps, max(10, steps // 5)) if steps else 0
        t0 = time.perf_counter()
        run(PILOT // 2, pilot_steps)
        t1 = time.perf_counter()
        run(PILOT, pilot_steps)
        t2 = time.perf_counter()
        scale = steps / pilot_steps if pilot_steps else 1.0
        per_point = max((t2 - t1) - (t1 - t0), 0.0) / (PILOT - PILOT // 2) * scale
        fixed = max((t1 - t0) * scale - per_point * (PILOT // 2), 0.0)
        left = share - (t2 - t0)

        def cost(n: int, factor: float = 1.0) -> float:
            return factor * (fixed + n * per_point)

        if cost(MIN_POINTS) > left and steps > 10:
            reduced = max(10, int(steps * left / cost(MIN_POINTS)))
            self.notes.append(f"{lens}: {reduced} attack iterations instead of {steps} to fit the budget (a weaker "
                              "attack: its robust accuracy is a looser upper bound)")
            fixed, per_point = fixed * reduced / steps, per_point * reduced / steps
            steps = reduced
        if cost(MIN_POINTS) > left:
            raise OverBudget(f"{MIN_POINTS} points need about {cost(MIN_POINTS):.0f} s; "
                             f"{max(left, 0):.0f} s of its share were left")
        n = wanted if per_point == 0 else min(wanted, int((left - fixed) / per_point))
        self._note(f"{lens} points", n, wanted)
        self.sizes[lens] = n
        return n, steps

    def points_by_steps(self, lens: str, wanted: int, steps_per_point_run: int) -> int:
        """Points for a lens that costs ``steps_per_point_run`` gradient steps over its whole batch."""
        if self.budget is None:
            return wanted
        share = self.share(lens)
        # steps · (fixed + rows · per-row) ≤ share, with a factor 2 for what the probe does not see
        affordable = (share / (2 * steps_per_point_run) - self.step_fixed) / max(self.step_per_row, 1e-9)
        n = min(wanted, max(MIN_POINTS, int(affordable)))
        self._note(f"{lens} points", n, wanted)
        self.sizes[lens] = n
        return n


def make_plan(clf: Classifier, x: torch.Tensor, budget: float | None) -> Plan:
    """A plan with the step cost probed on ``x`` (one forward+backward at batch 1 and at batch 64)."""
    plan = Plan(budget)
    if budget is None or not clf.has_gradients:
        return plan
    times = {}
    with eval_mode(clf):  # the probe times the deployed model, and batch norm in train mode refuses one row
        for rows in (1, min(64, len(x))):
            xb = x[:rows].clone().requires_grad_(True)
            clf.logits(xb).logsumexp(dim=1).sum().backward()  # warm-up
            t0 = time.perf_counter()
            for _ in range(3):
                xb.grad = None
                clf.logits(xb).logsumexp(dim=1).sum().backward()
            times[rows] = (time.perf_counter() - t0) / 3
    big = min(64, len(x))
    plan.step_per_row = max(0.0, (times[big] - times[1]) / max(big - 1, 1))
    plan.step_fixed = max(0.0, times[1] - plan.step_per_row)
    return plan
