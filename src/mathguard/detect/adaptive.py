"""The adaptive attack: fool the model *and* slip under the detector's threshold.

A detector evaluated only against attacks that ignore it is not evaluated (Carlini &
Wagner 2017 broke ten that way). This is selective PGD (Bryniarski et al. 2022): each
step ascends the cross-entropy while the input is still classified correctly, and
descends the detector's surrogate (score − threshold) once it is fooled, keeping the
first point that is both misclassified and unflagged. Detectors whose score has no
gradient (ODIN's sign step, feature squeezing) present a straight-through surrogate.
Every reported evasion is re-checked with the detector's true decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mathguard.attacks.base import parse_eps
from mathguard.attacks.geometry import clip_bounds, normalized_step, per_sample, project
from mathguard.attacks.draws import PointDraws
from mathguard.attacks.pgd import random_start
from mathguard.detect.base import Detector, score_many
from mathguard.detect.forward import forward
from mathguard.errors import InputError, UnsupportedError
from mathguard.models.torch_model import eval_mode
from mathguard.report import Report
from mathguard.validate import integer
from mathguard.params import COUNT, INT_SEED, NON_NEGATIVE, NORM, declare


@dataclass(frozen=True)
class AdaptiveResult:
    """Per input: the point found, whether it fools the model, is flagged, and evades both."""

    detector: str
    eps: float
    norm: str
    adversarial: np.ndarray
    misclassified: np.ndarray
    flagged: np.ndarray
    evaded: np.ndarray

    @property
    def evasion_rate(self) -> float:
        """Share of inputs turned into misclassified, unflagged ones."""
        return float(self.evaded.mean())

    @property
    def tpr(self) -> float:
        """Share of the misclassified adversarial inputs the detector still flags (nan if none)."""
        return float(self.flagged[self.misclassified].mean()) if self.misclassified.any() else float("nan")

    def report(self) -> Report:
        """The attack's outcome as a Report (numbers only; evaluate_detectors() judges them against the static attacks)."""
        return Report(title=f"Adaptive attack on {self.detector} ({self.norm}, eps={self.eps:g})",
                      summary=f"{self.evasion_rate:.0%} of {len(self.evaded)} inputs fool the model undetected.",
                      metrics={"evasion_rate": self.evasion_rate, "tpr": self.tpr,
                               "misclassified": float(self.misclassified.mean()), "n": len(self.evaded),
                               "eps": self.eps, "norm": self.norm})


def _box(box: "tuple[Any, Any] | None", x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if box is None:
        return None, None
    lo64, hi64 = (np.asarray(b, dtype=np.float64).reshape(x.shape[1:]) for b in box)
    # Rounded inward to the input dtype, so no clipped value lies outside the float64 box.
    dt = np.dtype(str(x.dtype).removeprefix("torch."))
    lo, hi = lo64.astype(dt), hi64.astype(dt)
    lo = np.where(lo < lo64, np.nextafter(lo, np.inf, dtype=dt), lo)
    hi = np.where(hi > hi64, np.nextafter(hi, -np.inf, dtype=dt), hi)
    lo, hi = torch.from_numpy(lo), torch.from_numpy(hi)
    if ((x < lo) | (x > hi)).any():
        raise InputError("the clean inputs lie outside the box given to the adaptive attack")
    return lo, hi


def _clip(x: torch.Tensor, lo: torch.Tensor | None, hi: torch.Tensor | None) -> torch.Tensor:
    """Clipping to a box containing the clean input keeps an L∞ or L2 step inside its ball."""
    return x if lo is None else torch.max(torch.min(x, hi), lo)


def joint_surrogate(detectors: Sequence[Detector], out: Any) -> torch.Tensor:
    """Smooth maximum of several detectors' surrogates: ≤ 0 only where (nearly) every one passes."""
    if len(detectors) == 1:
        return detectors[0].surrogate(out)
    return torch.logsumexp(torch.stack([d.surrogate(out) for d in detectors]), dim=0)


@declare(eps=NON_NEGATIVE, norm=NORM, steps=COUNT, random_state=INT_SEED)
def adaptive_attack(detector: "Detector | Sequence[Detector]", x: Any, y: Any, *, eps: float, norm: str = "linf",
                    steps: int = 50, step_size: float | None = None, box: "tuple[Any, Any] | None" = None,
                    random_state: int = 0) -> AdaptiveResult:
    """Selective PGD against a detector (or several at once: evade all) and their model, in an eps-ball.

    Several detectors must watch the same classifier; an input counts as flagged when any
    of them flags it, as a guard would treat it. ``box`` = (low, high) per input value
    keeps every iterate inside a validation range too (a guard's range check), on top of
    the model's bounds.
    """
    detectors = [detector] if isinstance(detector, Detector) else list(detector)
    if not detectors or not all(isinstance(d, Detector) for d in detectors):
        raise InputError("adaptive_attack needs a detector or a list of detectors")
    clf = detectors[0].clf
    if any(d.clf is not clf for d in detectors):
        raise InputError("detectors attacked together must watch the same classifier")
    if not clf.has_gradients:
        raise UnsupportedError(f"the adaptive attack needs gradients; this {clf.kind} model has none")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise InputError(f"eps must be one number, got {eps!r}")
    (budget,) = parse_eps(eps)
    integer(steps, "steps")
    for d in detectors:
        d._check_calibrated()
    layers = frozenset().union(*(d.layers for d in detectors))
    xt = detectors[0]._input(x)
    yt = clf.as_labels(y, len(xt))
    e = torch.full((len(xt),), budget, dtype=xt.dtype)
    alpha = per_sample(torch.full_like(e, step_size if step_size is not None else 2.5 * budget / steps), xt)
    lo, hi = _box(box, xt)
    start = random_start(xt, e, norm, PointDraws(random_state, torch.arange(len(xt))))
    adv = _clip(clip_bounds(xt + start, clf.bounds), lo, hi)
    best, found = xt.clone(), torch.zeros(len(xt), dtype=torch.bool)
    with eval_mode(clf):
        for _ in range(steps):
            todo = (~found).nonzero().squeeze(1)
            if len(todo) == 0:
                break
            xg = adv[todo].detach().requires_grad_(True)
            out = forward(clf, xg, layers)
            s = joint_surrogate(detectors, out)
            correct = out.logits.argmax(1) == yt[todo]
            hit = (~correct & (s <= 0)).detach()
            best[todo[hit]], found[todo[hit]] = adv[todo[hit]], True
            objective = torch.where(correct, F.cross_entropy(out.logits, yt[todo], reduction="none"), -s)
            (grad,) = torch.autograd.grad(objective.sum(), xg)
            step = adv[todo] + alpha[todo] * normalized_step(grad, norm)
            inside = clip_bounds(xt[todo] + project(step - xt[todo], e[todo], norm), clf.bounds)
            adv[todo] = _clip(inside, lo, hi).detach()
        # The last iterate may evade too; then every claim is re-checked with the real decision.
        best[~found] = adv[~found]
        with torch.no_grad():
            wrong = (clf.predict(best) != yt).numpy()
    flags = [d.flag(s) for d, s in zip(detectors, score_many(detectors, best))]
    flagged = np.logical_or.reduce(flags)
    name = "+".join(d.name for d in detectors)
    return AdaptiveResult(name, budget, norm, best.cpu().numpy(), wrong, flagged, wrong & ~flagged)
