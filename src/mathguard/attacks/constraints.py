"""Per-feature constraints for any modality: immutable features, per-feature bounds, one-hot groups.

Tabular inputs have features an attacker cannot change (age, a contract's start date),
features with their own ranges, and categorical features encoded as groups of one-hot
columns; signals and images share one range, ``clf.bounds``. A :class:`FeatureBox` merges
them and projects any candidate back into the allowed set, so an attack that projects
through it never changes an immutable feature. Gradient steps never move one-hot columns
(a fraction of a category means nothing); :func:`search_groups` tries whole categories
instead, inside the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from mathguard.attacks.geometry import lp_norm, margin, project
from mathguard.errors import InputError, UnsupportedError
from mathguard.models.base import Classifier


@dataclass(frozen=True)
class FeatureBox:
    """Allowed inputs: ``low <= x <= high`` per feature, immutable features pinned to their clean value.

    Every tensor has the shape of one input; ``None`` means no constraint of that kind.
    ``groups`` holds the flat column indices of each one-hot group.
    """

    low: torch.Tensor | None
    high: torch.Tensor | None
    mutable: torch.Tensor | None
    groups: tuple[torch.Tensor, ...] = ()

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """Clamp a batch into the per-feature bounds."""
        if self.low is None or self.high is None:
            return x
        return torch.max(torch.min(x, self.high.to(x.device)), self.low.to(x.device))

    def mask(self, delta: torch.Tensor) -> torch.Tensor:
        """Zero the coordinates a gradient step may not move (immutable and one-hot columns)."""
        step = self.stepped
        return delta if step is None else delta * step.to(delta)

    @property
    def stepped(self) -> torch.Tensor | None:
        """Features a continuous step may move: mutable and outside every one-hot group (None: all)."""
        if not self.groups:
            return self.mutable
        step = torch.ones(self.shape, dtype=torch.bool) if self.mutable is None else self.mutable.clone()
        step.view(-1)[torch.cat(self.groups)] = False
        return step

    @property
    def shape(self) -> tuple[int, ...]:
        for t in (self.low, self.mutable):
            if t is not None:
                return tuple(t.shape)
        raise UnsupportedError("this box has no per-feature tensor to take the input shape from")

    def project(self, adv: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """Nearest allowed batch: clipped into the bounds, immutable features reset to ``clean``."""
        adv = self.clip(adv)
        return adv if self.mutable is None else torch.where(self.mutable.to(adv.device), adv, clean)

    def violated(self, adv: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """(N,) True where an input breaks a constraint: outside its bounds, an immutable feature
        changed, or a one-hot group that is not one-hot (or, when immutable, not its clean category)."""
        flat, ref = adv.flatten(1), clean.flatten(1)
        bad = torch.zeros(len(adv), dtype=torch.bool, device=adv.device)
        free = None if self.mutable is None else self.mutable.to(adv.device).flatten()
        if self.low is not None and self.high is not None:  # an immutable feature may sit outside (the clean value)
            low, high = self.low.to(adv).flatten(), self.high.to(adv).flatten()
            out = (flat < low) | (flat > high)
            bad |= (out if free is None else out & free).any(1)
        if free is not None:
            bad |= (flat[:, ~free] != ref[:, ~free]).any(1)
        for g in self.groups:
            v = flat[:, g.to(adv.device)]
            bad |= ~(((v == 0) | (v == 1)).all(1) & (v.sum(1) == 1))
        return bad

    def searchable(self, group: torch.Tensor) -> bool:
        """Whether an attack may change this group's category: every one of its columns is mutable."""
        return self.mutable is None or bool(self.mutable.flatten()[group].all())

    @property
    def span(self) -> float | None:
        """Mean width of the mutable features' ranges (the scale of a first random probe), or None."""
        if self.low is None or self.high is None:
            return None
        width = self.high - self.low
        return float(width[self.mutable].mean() if self.mutable is not None else width.mean())


def _per_feature(value: Any, shape: tuple[int, ...], what: str, dtype: torch.dtype) -> torch.Tensor | None:
    if value is None:
        return None
    arr = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
    try:
        out = torch.as_tensor(np.broadcast_to(arr, shape).copy()).to(dtype)
    except (ValueError, TypeError):
        raise InputError(f"{what} must broadcast to the input shape {shape}, got shape {arr.shape}") from None
    return out


def _groups(onehot: Sequence[Sequence[int]] | None, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Checked one-hot groups: disjoint flat column indices, at least two each, ``x`` one-hot in each."""
    if onehot is None:
        return ()
    d = x[0].numel()
    try:
        groups = tuple(torch.as_tensor([int(c) for c in g], dtype=torch.long) for g in onehot)
    except (TypeError, ValueError):
        raise InputError("onehot must be a list of column-index lists, one per categorical feature") from None
    cols = torch.cat(groups) if groups else torch.zeros(0, dtype=torch.long)
    if any(len(g) < 2 for g in groups) or len(cols.unique()) != len(cols) or (cols < 0).any() or (cols >= d).any():
        raise InputError(f"onehot groups must be disjoint, of >= 2 columns each, with indices in [0, {d})")
    flat = x.flatten(1)
    for g in groups:
        v = flat[:, g.to(x.device)]
        if not (((v == 0) | (v == 1)).all() and (v.sum(1) == 1).all()):
            raise InputError(f"inputs are not one-hot in the group of columns {g.tolist()}")
    return groups


def feature_box(clf: Classifier, x: torch.Tensor, *, low: Any = None, high: Any = None,
                mutable: Any = None, onehot: Sequence[Sequence[int]] | None = None) -> FeatureBox:
    """Merge the model's bounds with per-feature ``low``/``high``, a ``mutable`` mask and ``onehot`` groups.

    Checks that ``x`` fits: inside the bounds on mutable features and one-hot in every group.
    """
    shape = tuple(clf.input_shape)
    lo = _per_feature(low, shape, "low", torch.float32)
    hi = _per_feature(high, shape, "high", torch.float32)
    m = _per_feature(mutable, shape, "mutable", torch.bool) if mutable is not None else None
    if mutable is not None and np.asarray(mutable).dtype != np.bool_:
        raise InputError("mutable must be a boolean mask (True where the attacker may change a feature)")
    if clf.bounds is not None:
        lo = torch.full(shape, clf.bounds[0]) if lo is None else lo.clamp_min(clf.bounds[0])
        hi = torch.full(shape, clf.bounds[1]) if hi is None else hi.clamp_max(clf.bounds[1])
    if (lo is None) != (hi is None):
        raise InputError("give both low and high per-feature bounds (or model bounds), or neither")
    if lo is not None and hi is not None:
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()) or (lo > hi).any():
            raise InputError("per-feature bounds must be finite with low <= high")
        outside = (x < lo.to(x.device)) | (x > hi.to(x.device))
        if m is not None:
            outside &= m.to(x.device)
        if outside.any():
            raise InputError(f"{int(outside.flatten(1).any(1).sum())} inputs lie outside the per-feature bounds")
    if m is not None and not m.any():
        raise InputError("mutable marks no feature as changeable: there is nothing to attack")
    groups = _groups(onehot, x)
    if groups and m is None:
        m = torch.ones(shape, dtype=torch.bool)  # the box needs a per-feature tensor to know the shape
    if groups and lo is not None and hi is not None:
        cols = torch.cat(groups)
        if (lo.view(-1)[cols] > 0).any() or (hi.view(-1)[cols] < 1).any():
            raise InputError("the bounds of one-hot columns must include 0 and 1")
    return FeatureBox(lo, hi, m, groups)


def _fit(cand: torch.Tensor, clean: torch.Tensor, eps: torch.Tensor, norm: str,
         in_groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shrink the continuous part of ``cand - clean`` into what the categorical part leaves of ``eps``.

    Returns (fitted candidates, feasible): infeasible where the category changes alone exceed eps.
    """
    delta = (cand - clean).flatten(1)
    cat, cont = delta * in_groups, delta * ~in_groups
    used = lp_norm(cat, norm)
    feasible = used <= eps * (1 + 1e-6)
    left = eps if norm == "linf" else (eps ** 2 - used ** 2).clamp_min(0).sqrt()
    fitted = clean.flatten(1) + cat + project(cont, left, norm)
    return fitted.view_as(cand), feasible


def search_groups(box: FeatureBox, clf: Classifier, adv: torch.Tensor, clean: torch.Tensor, y: torch.Tensor,
                  eps: torch.Tensor, norm: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy search over categories, one group after another, on inputs not yet fooled.

    Each group tries every category (one forward pass over all of them) and keeps the one with
    the lowest margin whose cost fits the budget with the continuous perturbation shrunk to what
    is left; the current category is always a candidate, so the margin never rises.
    Returns (adversarial inputs, queries spent per input).
    """
    queries = torch.zeros(len(adv), dtype=torch.long)
    if not box.groups:
        return adv, queries
    adv = adv.clone()
    in_groups = torch.zeros(clean[0].numel(), dtype=torch.bool, device=adv.device)
    in_groups[torch.cat(box.groups).to(adv.device)] = True
    with torch.no_grad():
        rows = (clf.predict(adv) == y).nonzero().squeeze(1)
        queries += 1
        for g in box.groups:
            if not len(rows):
                break
            if not box.searchable(g):
                continue  # an immutable category stays what it was
            k, g = len(g), g.to(adv.device)
            cand = adv[rows].flatten(1).repeat(k, 1)
            cand[:, g] = torch.eye(k, dtype=adv.dtype, device=adv.device).repeat_interleave(len(rows), 0)
            ref = clean[rows].flatten(1).repeat(k, 1)
            cand, ok = _fit(cand, ref, eps[rows].repeat(k), norm, in_groups)
            cand = box.project(cand.view(-1, *adv.shape[1:]), ref.view(-1, *adv.shape[1:]))
            score = margin(clf.logits(cand), y[rows].repeat(k)).masked_fill(~ok.to(cand.device), float("inf"))
            queries[rows.cpu()] += k
            best = score.view(k, len(rows)).argmin(0)
            adv[rows] = cand.view(k, len(rows), *adv.shape[1:])[best, torch.arange(len(rows))]
            rows = rows[score.view(k, len(rows)).min(0).values >= 0]
    return adv, queries


class Constrained:
    """Mixin for gradient attacks: per-feature ``low``/``high``, a ``mutable`` mask and ``onehot`` groups.

    Steps and random starts move only mutable continuous features; each iterate is projected
    into the box; after the run, :func:`search_groups` tries the categories of each group.
    """

    norm: str
    minimal_norm: bool
    _box: FeatureBox | None

    def _set_constraints(self, low: Any, high: Any, mutable: Any, onehot: Sequence[Sequence[int]] | None) -> None:
        self.low, self.high, self.mutable, self.onehot = low, high, mutable, onehot

    def _constraints(self, clf: Classifier, x: torch.Tensor) -> FeatureBox | None:
        if self.low is None and self.high is None and self.mutable is None and self.onehot is None:
            return None
        if self.onehot is not None and self.minimal_norm:
            raise UnsupportedError("one-hot groups need a fixed budget: a category change has no minimal size")
        return feature_box(clf, x, low=self.low, high=self.high, mutable=self.mutable, onehot=self.onehot)

    def _polish(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor,
                eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._box is None:
            return adv, torch.zeros(len(adv), dtype=torch.long)
        return search_groups(self._box, clf, adv, x, y, eps, self.norm)

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = super().params()  # type: ignore[misc]
        for k in ("low", "high", "mutable"):
            p[k] = None if p[k] is None else "per-feature"
        p["onehot"] = None if self.onehot is None else [len(g) for g in self.onehot]
        return p
