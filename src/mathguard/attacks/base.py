"""Shared machinery for white-box attacks: validation, budgets, projections, final checks.

Every attack works on whole batches in raw input space. A fixed-budget attack given a
list of budgets tiles the batch once per budget and runs a single vectorised loop
(one run per eps list); a minimal-norm attack runs once and answers every budget
through :meth:`AttackResult.at`.

Cancellation is cooperative: ``progress(step, total)`` is called after every iteration;
if it returns ``False`` the attack stops and returns what it has found so far (still
projected into the budget and the bounds). A ``KeyboardInterrupt`` is not caught.
"""

from __future__ import annotations

import math
import threading
from abc import ABC
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from mathguard.attacks.draws import PointDraws
from mathguard.attacks.geometry import clip_bounds, lp_norm, normalized_step, per_sample, project
from mathguard.attacks.result import AttackResult
from mathguard.errors import InputError, MathguardError, UnsupportedError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode
from mathguard.params import NORM, declare

if TYPE_CHECKING:
    from mathguard.attacks.constraints import FeatureBox

Progress = Callable[[int, int], "bool | None"]
#: Rows per forward+backward pass where an attack holds many rows at once (APGD's batched target classes):
#: on the digits CNN, chunks of 512 ran 9 × 240 rows ~1.8x faster than one batch (cache), with the same bits.
ROW_CHUNK = 512


def parse_eps(eps: Any) -> tuple[float, ...] | None:
    """None, one budget or a list of budgets → tuple of finite non-negative floats."""
    if eps is None:
        return None
    try:
        values = [eps] if np.ndim(eps) == 0 else list(eps)  # a numpy or torch scalar is one budget too
        out = tuple(float(e) for e in values)
    except (TypeError, ValueError, RuntimeError):
        raise InputError(f"eps must be a number or a list of numbers, got {eps!r}") from None
    if not out:
        raise InputError("eps list is empty")
    if any(not math.isfinite(e) or e < 0 for e in out):
        raise InputError(f"eps must be finite and >= 0, got {list(out)}")
    return out


def attack_inputs(clf: Classifier, x: Any, y: Any, name: str,
                  needs_gradients: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked (inputs, labels) for any attack: a wrapped model, a non-empty batch inside the bounds."""
    if not isinstance(clf, Classifier):
        raise InputError(f"expected a mathguard Classifier (use mg.wrap), got {type(clf).__name__}")
    if needs_gradients and not clf.has_gradients:
        raise UnsupportedError(f"{name} needs gradients; this {clf.kind} model has none "
                               "(use a black-box attack)")
    xt = clf.as_input(x)
    yt = clf.as_labels(y, len(xt))
    if len(xt) == 0:
        raise InputError("no inputs to attack")
    if clf.bounds is not None and ((xt < clf.bounds[0]).any() or (xt > clf.bounds[1]).any()):
        raise InputError(f"inputs lie outside the model bounds {clf.bounds}")
    return xt, yt


def point_ids(ids: Any, n: int) -> torch.Tensor:
    """Checked point ids: ``n`` distinct non-negative integers (default 0..n-1)."""
    if ids is None:
        return torch.arange(n)
    out = torch.as_tensor(np.asarray(ids))
    if out.shape != (n,) or out.dtype.is_floating_point or out.dtype == torch.bool or out.is_complex():
        raise InputError(f"ids must be {n} integers, one per point; got shape {tuple(out.shape)} of {out.dtype}")
    out = out.long()
    if len(out) and int(out.min()) < 0:
        raise InputError("ids must be non-negative")
    if len(torch.unique(out)) != n:
        raise InputError("ids must be distinct: two points with one id would share their random draws")
    return out


@dataclass
class _CallState:
    ids: torch.Tensor
    box: "FeatureBox | None"


_CALLS = threading.local()  # per thread: id(attack) -> the state of that attack's call in progress


def _call_state(attack: object) -> _CallState:
    state = _CALLS.__dict__.get(id(attack))
    if state is None:
        raise RuntimeError("attack state is only available during a call")
    return state


class Attack(ABC):
    """Base of every white-box attack: ``attack(clf, x, y, eps) -> AttackResult``."""

    name: str = "attack"
    minimal_norm: bool = False  # True: finds the smallest perturbation, eps optional
    needs_gradients: bool = True  # False for black-box attacks that only query outputs
    # What one call works on lives in that call's state, not on the attack: the same attack object may run
    # in several threads at once (a dask worker's threads, a server), each call seeing only its own points.
    @property
    def _ids(self) -> torch.Tensor:
        """Point ids of the batch given to _run/_run_minimal (keys of the per-point draws), for this call."""
        return _call_state(self).ids

    @_ids.setter
    def _ids(self, ids: torch.Tensor) -> None:
        _call_state(self).ids = ids

    @property
    def _box(self) -> "FeatureBox | None":
        """Per-feature constraints of this call (see attacks.constraints); None outside a call."""
        state = _CALLS.__dict__.get(id(self))
        return None if state is None else state.box

    @declare(norm=NORM)
    def __init__(self, norm: str = "linf", progress: Progress | None = None) -> None:
        self.norm = norm
        self.progress = progress

    # -- hooks -------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Hyper-parameters recorded in every result."""
        return {k: v for k, v in vars(self).items() if k != "progress" and not k.startswith("_")}

    def _constraints(self, clf: Classifier, x: torch.Tensor) -> "FeatureBox | None":
        """Per-feature constraints for this call; None leaves the model's bounds alone."""
        return None

    def _polish(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor,
                eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Last search after a fixed-budget run (categories of one-hot groups) → (adversarial, queries)."""
        return adv, torch.zeros(len(adv), dtype=torch.long)

    def _clip(self, adv: torch.Tensor, clean: torch.Tensor, bounds: tuple[float, float] | None) -> torch.Tensor:
        """Into the model's bounds, or into this call's per-feature box (immutable features reset)."""
        return clip_bounds(adv, bounds) if self._box is None else self._box.project(adv, clean)

    def _mask(self, delta: torch.Tensor) -> torch.Tensor:
        """Zero what a continuous step may not move (immutable features, one-hot columns)."""
        return delta if self._box is None else self._box.mask(delta)

    def _direction(self, grad: torch.Tensor) -> torch.Tensor:
        """Unit steepest-ascent step over the features a step may move."""
        return normalized_step(self._mask(grad), self.norm)

    def _run(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor,
             eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed-budget attack on a batch with per-sample budgets → (adversarial, queries)."""
        raise NotImplementedError

    def _run_minimal(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor,
                     eps_max: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Minimal-norm attack → (adversarial, queries); failures may return x itself."""
        raise NotImplementedError

    def _tick(self, step: int, total: int) -> bool:
        """Report progress; False means the caller asked to stop."""
        return self.progress is None or self.progress(step, total) is not False

    # -- driver ------------------------------------------------------------------------
    def _draws(self, ids: torch.Tensor | None = None) -> PointDraws:
        """Random numbers keyed by point id and ``self.random_state``: a point's draws do not depend on its batch."""
        return PointDraws(getattr(self, "random_state", 0), self._ids if ids is None else ids)

    def __call__(self, clf: Classifier, x: Any, y: Any, eps: Any = None, *, ids: Any = None) -> AttackResult:
        """Attack the points ``x`` (labels ``y``) at the budgets ``eps``.

        ``ids`` names the points (default 0..n-1): random starts and search windows are drawn
        per id, so the same point with the same id gets the same attack in any batch.
        """
        xt, yt = attack_inputs(clf, x, y, self.name, self.needs_gradients)
        budgets = parse_eps(eps)
        outer = _CALLS.__dict__.get(id(self))  # a call of this attack inside one of its own (EOT-style nesting)
        _CALLS.__dict__[id(self)] = _CallState(point_ids(ids, len(xt)), self._constraints(clf, xt))
        try:
            with eval_mode(clf):
                if self.minimal_norm:
                    return self._minimal(clf, xt, yt, budgets)
                if budgets is None:
                    raise InputError(f"{self.name} is a fixed-budget attack: give eps")
                return self._fixed(clf, xt, yt, budgets)
        finally:
            if outer is None:
                del _CALLS.__dict__[id(self)]
            else:
                _CALLS.__dict__[id(self)] = outer

    def _fixed(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor,
               budgets: tuple[float, ...]) -> AttackResult:
        E, N = len(budgets), len(x)
        xs = x.repeat(E, *([1] * (x.ndim - 1)))
        ys = y.repeat(E)
        es = torch.tensor(budgets, dtype=x.dtype).repeat_interleave(N)
        self._ids = self._ids.repeat(E)  # a point keeps its draws at every budget
        adv, queries = self._run(clf, xs, ys, es)
        adv = self._clip(xs + project(adv - xs, es, self.norm), xs, clf.bounds)
        adv, more = self._polish(clf, xs, ys, adv, es)
        queries = queries + more
        return self._finish(clf, xs, ys, adv, queries, budgets, es, minimal=False)

    def _minimal(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor,
                 budgets: tuple[float, ...] | None) -> AttackResult:
        adv, queries = self._run_minimal(clf, x, y, None if budgets is None else max(budgets))
        res = self._finish(clf, x, y, adv, queries, (math.inf,), None, minimal=True)
        return res if budgets is None else res.at(list(budgets))

    def _finish(self, clf: Classifier, xs: torch.Tensor, ys: torch.Tensor, adv: torch.Tensor,
                queries: torch.Tensor, budgets: tuple[float, ...], es: torch.Tensor | None,
                minimal: bool) -> AttackResult:
        """Check budget/bounds/finiteness, keep only real successes, shape to (E, N, ...)."""
        adv = adv.detach()
        if not torch.isfinite(adv).all():
            raise MathguardError(f"{self.name} produced non-finite adversarial inputs "
                                 "(the model's gradients are NaN/Inf)")
        with torch.no_grad():
            fooled = clf.predict(adv) != ys
        # A failed search returns the clean input, so nothing outside the budget leaks out.
        adv = torch.where(per_sample(fooled, adv), adv, xs)
        norms = lp_norm(adv - xs, self.norm)
        # x + δ is rounded to the input dtype: |x| ≈ 2500 (a raw tabular feature) moves it by ~1e-4 in float32.
        rounding = 2 * torch.finfo(xs.dtype).eps * lp_norm(xs, self.norm)
        if es is not None and (norms > es * (1 + 1e-5) + 1e-7 + rounding).any():
            raise MathguardError(f"{self.name} left the eps-ball (internal error)")
        if clf.bounds is not None and ((adv < clf.bounds[0]).any() or (adv > clf.bounds[1]).any()):
            raise MathguardError(f"{self.name} left the input bounds (internal error)")
        if self._box is not None and self._box.violated(adv, xs).any():
            raise MathguardError(f"{self.name} broke a feature constraint it was given (internal error)")
        E, N = len(budgets), len(xs) // len(budgets)
        return AttackResult(
            attack=self.name, norm=self.norm, eps=budgets,
            adversarial=adv.view(E, N, *xs.shape[1:]),
            success=fooled.view(E, N), norms=norms.view(E, N),
            queries=queries.view(E, N).long(), params=self.params(), minimal=minimal,
            clean=xs[:N].clone(),
        )
