"""DeepFool (Moosavi-Dezfooli et al.): step to the nearest linearised decision boundary.

Each iteration linearises every class margin z_j − z_y around the current point and
jumps to the closest of those hyperplanes in the dual norm; on a linear model the first
step is already the exact minimal perturbation (times ``1 + overshoot``). The overshoot that
carries a point across the boundary is then bisected back (``refine_steps`` forward passes),
which only ever shortens a successful perturbation.
"""

from __future__ import annotations

import torch

from mathguard.attacks.base import Attack, Progress
from mathguard.attacks.geometry import clip_bounds, per_sample
from mathguard.errors import InputError
from mathguard.params import COUNT, NON_NEGATIVE, NORM, Int, declare


def class_gradients(clf, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, C) and their input Jacobian (N, C, *input_shape): one forward, C backwards."""
    x = x.detach().requires_grad_(True)
    logits = clf.logits(x)
    grads = [torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k < logits.shape[1] - 1)[0]
             for k in range(logits.shape[1])]
    return logits.detach(), torch.stack(grads, dim=1)


class DeepFool(Attack):
    """Minimal-norm DeepFool in L2 or Linf; returns a minimal result (query any eps with ``at``)."""

    name = "DeepFool"
    minimal_norm = True

    @declare(norm=NORM, steps=COUNT, overshoot=NON_NEGATIVE, refine_steps=Int(0))
    def __init__(self, norm: str = "l2", steps: int = 50, overshoot: float = 0.02, refine_steps: int = 8,
                 progress: Progress | None = None) -> None:
        super().__init__(norm, progress)
        if steps < 1 or refine_steps < 0:
            raise InputError("steps must be >= 1 and refine_steps >= 0")
        if overshoot < 0:
            raise InputError(f"overshoot must be >= 0, got {overshoot}")
        self.steps, self.overshoot, self.refine_steps = steps, overshoot, refine_steps

    def _run_minimal(self, clf, x, y, eps_max):
        r_tot = torch.zeros_like(x)
        adv = x.clone()
        queries = torch.zeros(len(x), dtype=torch.long)
        active = torch.arange(len(x))
        for step in range(self.steps):
            logits, jac = class_gradients(clf, adv[active])
            queries[active] += 1
            ya = y[active]
            still = logits.argmax(1) == ya
            active, logits, jac, ya = active[still], logits[still], jac[still], ya[still]
            if len(active) == 0:
                break
            f = logits - logits.gather(1, ya[:, None])                    # z_j − z_y ≤ 0
            w = (jac - jac[torch.arange(len(ya)), ya][:, None]).flatten(2)  # ∇(z_j − z_y)
            if clf.bounds is not None:
                # Linearise inside the box: coordinates pinned at a bound and pushed outward
                # cannot move, so they must not count in the step or its dual norm.
                flat = adv[active].flatten(1)[:, None, :]
                w = w * ~(((flat <= clf.bounds[0]) & (w < 0)) | ((flat >= clf.bounds[1]) & (w > 0)))
            dual = w.norm(dim=2) if self.norm == "l2" else w.abs().sum(dim=2)
            dist = f.abs() / dual.clamp_min(1e-12)
            dist.scatter_(1, ya[:, None], float("inf"))
            k = dist.argmin(dim=1)
            wk = w[torch.arange(len(k)), k]
            dk = dist[torch.arange(len(k)), k]
            if self.norm == "l2":
                r = dk[:, None] * wk / dual[torch.arange(len(k)), k].clamp_min(1e-12)[:, None]
            else:
                r = dk[:, None] * wk.sign()
            r_tot[active] += r.view_as(x[active])
            adv[active] = clip_bounds(x[active] + (1 + self.overshoot) * r_tot[active], clf.bounds)
            if not self._tick(step + 1, self.steps):
                break
        return self._refine(clf, x, y, r_tot, adv, queries)

    @torch.no_grad()
    def _refine(self, clf, x, y, r_tot, adv, queries):
        """Bisect the scale of the final step on [0, 1]: the overshoot is only needed to
        cross the boundary, so keep the smallest scale that still fools the model."""
        fooled = clf.predict(adv) != y
        idx = fooled.nonzero().squeeze(1)
        queries += 1
        lo = torch.zeros(len(idx))
        hi = torch.ones(len(idx))
        for _ in range(self.refine_steps if len(idx) else 0):
            mid = (lo + hi) / 2
            cand = clip_bounds(x[idx] + per_sample(mid, x[idx]) * (1 + self.overshoot) * r_tot[idx], clf.bounds)
            ok = clf.predict(cand) != y[idx]
            adv[idx[ok]] = cand[ok]
            hi = torch.where(ok, mid, hi)
            lo = torch.where(ok, lo, mid)
            queries[idx] += 1
        return adv, queries
