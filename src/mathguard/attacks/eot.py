"""Expectation over transformation (Athalye et al., 2018): attack what a randomised model does on average.

A defense that adds noise, resizes at random or smooths answers differently on every
query; a gradient attack that follows one random draw per step chases noise and reports
false robustness. :class:`EOT` wraps any gradient attack so that it sees the model's
expected prediction, ``log E_t[softmax(f(t(x)))]`` over ``samples`` draws made in one
batch, and counts every draw as a query. :class:`RandomTransform` is the family of
physical changes (rotation, scale, translation, brightness) also used by the patch attack.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from mathguard.attacks.base import Attack, attack_inputs
from mathguard.attacks.result import AttackResult
from mathguard.errors import InputError, UnsupportedError
from mathguard.models.base import Classifier
from mathguard.params import COUNT, INT_SEED, Real, declare

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class RandomTransform:
    """Random rotation (± degrees), scale, translation (share of the side) and brightness of image batches.

    Differentiable in the image (bilinear resampling), one independent draw per image.
    """

    @declare(rotation=Real(0, 180), translate=Real(0, 1))
    def __init__(self, rotation: float = 20.0, scale: tuple[float, float] = (0.8, 1.2), translate: float = 0.15,
                 brightness: tuple[float, float] = (0.8, 1.2)) -> None:
        self.rotation, self.translate = float(rotation), float(translate)
        self.scale = _range(scale, "scale")
        self.brightness = _range(brightness, "brightness")

    def __repr__(self) -> str:
        return (f"RandomTransform(rotation={self.rotation:g}, scale={self.scale}, translate={self.translate:g}, "
                f"brightness={self.brightness})")

    def draw(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(n,) angles in radians, (n,) scales, (n, 2) shifts in normalised coordinates, (n,) brightness factors."""
        u = torch.rand(n, 5, generator=gen, dtype=torch.float64)
        angle = (u[:, 0] * 2 - 1) * math.radians(self.rotation)
        scale = self.scale[0] + u[:, 1] * (self.scale[1] - self.scale[0])
        shift = (u[:, 2:4] * 2 - 1) * 2 * self.translate  # normalised coordinates span 2
        bright = self.brightness[0] + u[:, 4] * (self.brightness[1] - self.brightness[0])
        return angle, scale, shift, bright.float()

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        angle, scale, shift, bright = self.draw(len(x), gen)
        return warp(x, affine(angle, scale, shift)) * bright.to(x).view(-1, *([1] * (x.ndim - 1)))


def affine(angle: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """(n, 2, 3) sampling matrices for ``F.affine_grid``: rotate and scale about the centre, then shift."""
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # Output pixel p samples input A p + t: the inverse of rotate-scale-then-shift.
    a = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)
    t = -(a @ shift.to(a).unsqueeze(2))
    return torch.cat([a, t], 2).float()


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample a batch of (C, H, W) images through per-image affine maps, zero outside."""
    if x.ndim != 4:
        raise UnsupportedError(f"spatial transforms need (C, H, W) images, got inputs of shape {tuple(x.shape[1:])}")
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _range(value: Any, what: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a pair (low, high), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise InputError(f"{what} must be finite with 0 < low <= high, got {value!r}")
    return lo, hi


def as_transform(transforms: Any) -> Transform | None:
    """None (the model's own randomness only), "eot" (the default :class:`RandomTransform`) or a callable."""
    if transforms is None:
        return None
    if isinstance(transforms, str):
        if transforms != "eot":
            raise InputError(f"transforms must be None, 'eot' or a callable (x, generator) -> x, got {transforms!r}")
        return RandomTransform()
    if not callable(transforms):
        raise InputError(f"transforms must be None, 'eot' or a callable (x, generator) -> x, got {transforms!r}")
    return transforms


class ExpectedClassifier(Classifier):
    """``log E[softmax(clf(t(x)))]`` over ``samples`` draws of ``transform`` and of the model's own randomness."""

    def __init__(self, clf: Classifier, transform: Transform | None, samples: int, random_state: int = 0) -> None:
        self.clf, self.transform, self.samples = clf, transform, samples
        self.n_classes, self.input_shape, self.bounds = clf.n_classes, clf.input_shape, clf.bounds
        self.has_gradients, self.kind = clf.has_gradients, f"eot({clf.kind})"
        self.gen = torch.Generator().manual_seed(random_state)

    @property
    def parts(self) -> list[Classifier]:
        return [self.clf]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        xs = x.repeat(self.samples, *([1] * (x.ndim - 1)))
        if self.transform is not None:
            xs = self.clf.clip(self.transform(xs, self.gen))
        logp = torch.log_softmax(self.clf.logits(xs), dim=1).view(self.samples, len(x), -1)
        return torch.logsumexp(logp, dim=0) - math.log(self.samples)


class EOT(Attack):
    """Run ``attack`` against the expected prediction; queries count every draw (``samples`` per forward)."""

    @declare(samples=COUNT, random_state=INT_SEED)
    def __init__(self, attack: Attack, transforms: Any = None, samples: int = 16, random_state: int = 0) -> None:
        if not isinstance(attack, Attack):
            raise InputError(f"EOT wraps a mathguard Attack, got {type(attack).__name__}")
        super().__init__(attack.norm, attack.progress)
        self.attack, self.transform = attack, as_transform(transforms)
        self.samples = int(samples)
        self.random_state = random_state
        self.name = f"EOT-{attack.name}"
        self.needs_gradients, self.minimal_norm = attack.needs_gradients, attack.minimal_norm

    def params(self) -> dict[str, Any]:
        return {"attack": self.attack.name, **self.attack.params(), "samples": self.samples,
                "transforms": repr(self.transform), "random_state": self.random_state}

    def __call__(self, clf: Classifier, x: Any, y: Any, eps: Any = None, *, ids: Any = None) -> AttackResult:
        attack_inputs(clf, x, y, self.name, self.needs_gradients)
        res = self.attack(ExpectedClassifier(clf, self.transform, self.samples, self.random_state), x, y, eps, ids=ids)
        res.attack, res.params = self.name, self.params()
        res.queries = res.queries * self.samples
        return res
