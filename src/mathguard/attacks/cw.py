"""Carlini–Wagner L2 with the binary search over the trade-off constant c.

Minimises ‖δ‖₂² + c·max(z_y − max_{j≠y} z_j + κ, 0) with Adam, in tanh space when the
model has bounds (so every iterate is valid) and directly in δ otherwise. Per sample, c
is multiplied by 10 until an adversarial is found, then bisected; the smallest successful
perturbation over all c is kept.
"""

from __future__ import annotations

import torch

from mathguard.attacks.base import Attack, Progress
from mathguard.attacks.geometry import lp_norm, margin
from mathguard.errors import InputError
from mathguard.params import COUNT, NON_NEGATIVE, POSITIVE, declare


class CW(Attack):
    name = "CW"
    minimal_norm = True

    @declare(steps=COUNT, binary_search_steps=COUNT, confidence=NON_NEGATIVE, lr=POSITIVE, initial_const=POSITIVE)
    def __init__(self, steps: int = 100, binary_search_steps: int = 9, confidence: float = 0.0,
                 lr: float = 0.01, initial_const: float = 0.01, progress: Progress | None = None) -> None:
        super().__init__("l2", progress)
        if steps < 1 or binary_search_steps < 1:
            raise InputError("steps and binary_search_steps must be >= 1")
        if lr <= 0 or initial_const <= 0 or confidence < 0:
            raise InputError("lr and initial_const must be > 0 and confidence >= 0")
        self.steps, self.binary_search_steps = steps, binary_search_steps
        self.confidence, self.lr, self.initial_const = confidence, lr, initial_const

    def _run_minimal(self, clf, x, y, eps_max):
        n = len(x)
        lo_b, hi_b = clf.bounds if clf.bounds is not None else (None, None)

        def to_input(w: torch.Tensor) -> torch.Tensor:
            if lo_b is None:
                return x + w
            return lo_b + (hi_b - lo_b) * (torch.tanh(w) + 1) / 2

        if lo_b is None:
            w0 = torch.zeros_like(x)
        else:  # atanh of x mapped to (-1, 1), pulled slightly inside to stay finite
            w0 = torch.atanh(((x - lo_b) / (hi_b - lo_b) * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
        c = torch.full((n,), self.initial_const)
        c_lo, c_hi = torch.zeros(n), torch.full((n,), float("inf"))
        best = x.clone()
        best_norm = torch.full((n,), float("inf"))
        queries = torch.zeros(n, dtype=torch.long)
        total = self.binary_search_steps * self.steps
        for outer in range(self.binary_search_steps):
            w = w0.clone().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=self.lr)
            found = torch.zeros(n, dtype=torch.bool)
            for step in range(self.steps):
                adv = to_input(w)
                m = margin(clf.logits(adv), y)
                dist = lp_norm(adv - x, "l2")
                loss = dist.pow(2) + c * (m + self.confidence).clamp_min(0)
                opt.zero_grad()
                loss.sum().backward()
                opt.step()
                queries += 1
                with torch.no_grad():
                    ok = m <= -self.confidence if self.confidence > 0 else m < 0
                    better = ok & (dist < best_norm)
                    best[better] = adv.detach()[better]
                    best_norm[better] = dist[better]
                    found |= ok
                if not self._tick(outer * self.steps + step + 1, total):
                    return best, queries
            c_hi = torch.where(found, torch.min(c_hi, c), c_hi)
            c_lo = torch.where(found, c_lo, torch.max(c_lo, c))
            c = torch.where(torch.isinf(c_hi), c * 10, (c_lo + c_hi) / 2)
        return best, queries
