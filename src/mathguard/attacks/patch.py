"""Adversarial patch (Brown et al., 2017): one sticker that fools the model wherever and however it is placed.

The patch is a square of unconstrained pixel values (inside the model's bounds) covering
``size`` of the image area. With ``transforms="eot"`` every optimisation step pastes it
into each image under a fresh random rotation, scale, brightness and position inside
``region`` (expectation over transformation), so it survives what a camera does; without,
it is optimised at one fixed place. Success is always measured under fresh draws, never
the ones optimised on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mathguard.attacks.base import attack_inputs
from mathguard.attacks.geometry import margin
from mathguard.attacks.eot import RandomTransform, affine, as_transform, warp
from mathguard.errors import InputError, UnsupportedError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode
from mathguard.validate import integer
from mathguard.params import COUNT, Choice, INT_SEED, Optional, POSITIVE, Real, declare

#: Logit margin beyond which a fooled image no longer contributes to the untargeted loss.
MARGIN_CAP = 2.0


@dataclass
class PatchResult:
    """A trained patch and how often it fools the model under fresh random placements.

    ``success`` (N,) is on the attacked inputs, each pasted once under a draw not used in
    training (at the fixed place when trained without transforms); ``queries`` counts the
    forward+backward passes spent per input.
    """

    patch: torch.Tensor
    region: torch.Tensor
    transform: RandomTransform | None
    target: int | None
    success: torch.Tensor
    queries: int
    bounds: tuple[float, float] | None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean())

    def apply(self, x: torch.Tensor, *, transforms: Any = "same", random_state: int = 1) -> torch.Tensor:
        """``x`` with the patch pasted: under fresh draws of ``transforms`` ("same": the trained family)."""
        t = self.transform if isinstance(transforms, str) and transforms == "same" else as_transform(transforms)
        if t is not None and not isinstance(t, RandomTransform):
            raise InputError("a patch is placed through a RandomTransform (or 'eot', or None for the fixed place)")
        return paste(x, self.patch, self.region, t, torch.Generator().manual_seed(random_state), self.bounds)

    def evaluate(self, clf: Classifier, x: Any, y: Any, *, transforms: Any = "same", random_state: int = 1) -> float:
        """Share of inputs fooled (or sent to the target) with the patch pasted under fresh draws."""
        xt, yt = attack_inputs(clf, x, y, "Patch", needs_gradients=False)
        return float(_hit(clf.predict(self.apply(xt, transforms=transforms, random_state=random_state)), yt, self.target)
                     .float().mean())


def _hit(pred: torch.Tensor, y: torch.Tensor, target: int | None) -> torch.Tensor:
    return pred == target if target is not None else pred != y


def _placements(region: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """(K, 2) top-left corners where the upright patch lies wholly inside ``region``."""
    h, w = region.shape
    inside = F.avg_pool2d((~region).float()[None, None], (ph, pw), stride=1)[0, 0] == 0
    corners = inside.nonzero()
    if not len(corners):
        raise InputError(f"the region has no place for a {ph}x{pw} patch")
    return corners


def central_corner(corners: torch.Tensor, h: int, w: int, ph: int, pw: int) -> torch.Tensor:
    """The allowed corner that puts the patch's centre nearest the image's centre (first such in row order)."""
    centre = torch.tensor([(h - ph) / 2, (w - pw) / 2], dtype=torch.float64)
    return corners[((corners.double() - centre) ** 2).sum(1).argmin()]


def paste(x: torch.Tensor, patch: torch.Tensor, region: torch.Tensor, transform: RandomTransform | None,
          gen: torch.Generator, bounds: tuple[float, float] | None) -> torch.Tensor:
    """Paste ``patch`` into each image: a random allowed place and draw of ``transform``, or the central place."""
    n, _, h, w = x.shape
    ph, pw = patch.shape[1:]
    corners = _placements(region, ph, pw)
    if transform is None:
        corner = central_corner(corners, h, w, ph, pw).expand(n, 2)
        angle, scale, bright = torch.zeros(n), torch.ones(n), torch.ones(n)
    else:
        corner = corners[torch.randint(0, len(corners), (n,), generator=gen)]
        angle, scale, _, bright = transform.draw(n, gen)
    canvas = torch.zeros(1, *x.shape[1:], dtype=x.dtype, device=x.device)
    mask = torch.zeros(1, 1, h, w, dtype=x.dtype, device=x.device)
    r0, c0 = (h - ph) // 2, (w - pw) // 2
    canvas[:, :, r0:r0 + ph, c0:c0 + pw] = patch
    mask[:, :, r0:r0 + ph, c0:c0 + pw] = 1.0
    # Move the patch centre from its central place to the drawn corner's (2/size per pixel).
    offset = (corner - torch.tensor([r0, c0])).double()
    shift = torch.stack([offset[:, 1] * 2 / w, offset[:, 0] * 2 / h], 1)
    theta = affine(angle.double(), scale.double(), shift)
    warped = warp(canvas.expand(n, *canvas.shape[1:]), theta) * bright.to(x).view(-1, 1, 1, 1)
    m = warp(mask.expand(n, 1, h, w), theta) * region.to(x)
    out = (1 - m) * x + m * warped
    return out if bounds is None else out.clamp(bounds[0], bounds[1])


class Patch:
    """``Patch(size, transforms, steps)(clf, x, y, target=None) -> PatchResult``; images only."""

    name = "Patch"

    @declare(size=Real(0, 1, open_low=True), transforms=Optional(Choice(("eot",), callable_ok=True)), steps=COUNT,
             step_size=POSITIVE, batch_size=COUNT, random_state=INT_SEED)
    def __init__(self, size: float = 0.2, transforms: Any = "eot", steps: int = 500, step_size: float = 0.05,
                 batch_size: int = 128, region: Any = None, random_state: int = 0) -> None:
        self.size = float(size)
        self.transform = as_transform(transforms)
        if self.transform is not None and not isinstance(self.transform, RandomTransform):
            raise InputError("Patch transforms must be 'eot', a RandomTransform or None")
        self.steps, self.step_size, self.batch_size = int(steps), float(step_size), int(batch_size)
        self.region, self.random_state = region, random_state

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "transforms": repr(self.transform), "steps": self.steps,
                "step_size": self.step_size, "batch_size": self.batch_size, "random_state": self.random_state,
                "region": None if self.region is None else "mask"}

    def _region(self, h: int, w: int) -> torch.Tensor:
        if self.region is None:
            return torch.ones(h, w, dtype=torch.bool)
        r = np.asarray(self.region)
        if r.shape != (h, w) or r.dtype != np.bool_:
            raise InputError(f"region must be a boolean ({h}, {w}) mask of where the patch may go")
        return torch.as_tensor(r)

    def __call__(self, clf: Classifier, x: Any, y: Any, target: int | None = None) -> PatchResult:
        xt, yt = attack_inputs(clf, x, y, self.name, needs_gradients=True)
        if xt.ndim != 4:
            raise UnsupportedError(f"a patch needs (C, H, W) images, got inputs of shape {tuple(xt.shape[1:])}")
        if target is not None:
            target = integer(target, "target", low=0, high=clf.n_classes - 1)
        _, c, h, w = xt.shape
        side = max(1, min(h, w, round(float(np.sqrt(self.size * h * w)))))
        region = self._region(h, w)
        _placements(region, side, side)  # fail before training when the patch cannot fit
        gen = torch.Generator().manual_seed(self.random_state)
        lo, hi = clf.bounds if clf.bounds is not None else (0.0, 1.0)
        patch = (lo + (hi - lo) * torch.rand(c, side, side, generator=gen)).requires_grad_(True)
        opt = torch.optim.Adam([patch], lr=self.step_size * (hi - lo))
        with eval_mode(clf):
            for _ in range(self.steps):
                idx = torch.randperm(len(xt), generator=gen)[:self.batch_size]
                logits = clf.logits(paste(xt[idx], patch, region, self.transform, gen, clf.bounds))
                # Targeted: the target's loss down. Untargeted: the margin down, capped once an image is
                # fooled by MARGIN_CAP, so fooled images stop pulling the patch and the rest are worked on.
                loss = (F.cross_entropy(logits, torch.full_like(yt[idx], target)) if target is not None
                        else margin(logits, yt[idx]).clamp_min(-MARGIN_CAP).mean())
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    patch.clamp_(lo, hi)
            result = PatchResult(patch.detach(), region, self.transform, target, torch.zeros(0, dtype=torch.bool),
                                 queries=0, bounds=clf.bounds, params=self.params())
            fresh = result.apply(xt, random_state=self.random_state + 1)
            result.success = _hit(clf.predict(fresh), yt, target)
        result.queries = -(-self.steps * min(self.batch_size, len(xt)) // len(xt)) + 1
        return result
