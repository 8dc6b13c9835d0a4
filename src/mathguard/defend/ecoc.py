"""Error-correcting output codes as a defense (Verma & Swami, NeurIPS 2019), and why to distrust its claims.

Each class gets a ±1 codeword of ``code_length`` bits, far apart in Hamming distance; the
backbone predicts the bits (tanh), and a class's score is the correlation of the predicted
bits with its codeword, so one flipped bit does not flip the class. The module outputs class
log-probabilities and trains with the usual loop (NLL loss, or the hinge on each bit).

The published robustness did not survive adaptive attacks (Tramèr et al. 2020, "On adaptive
attacks to adversarial example defenses"): bits trained toward ±1 saturate the tanh, its
gradient underflows to exactly zero in float32, and fixed-step PGD stalls on those points.
Attacks with momentum and a step schedule (APGD), targeted losses, or no gradient at all find
what it misses; ``mg.evaluate_robustness`` runs them and its pitfall checks flag the masking.
``claimed_and_adaptive`` puts the published protocol and that evaluation side by side.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from mathguard.attacks.geometry import clip_bounds, normalized_step, project
from mathguard.errors import InputError, ModelError
from mathguard.validate import integer
from mathguard.params import COUNT, INT_SEED, NORM, SEED, Choice, Int, Real, declare

#: Random codebooks drawn to pick the one whose closest pair of codewords is farthest apart.
CANDIDATES = 64


def codebook(n_classes: int, code_length: int, random_state: int = 0) -> np.ndarray:
    """(n_classes, code_length) ±1 codewords with the largest minimum Hamming distance of ``CANDIDATES`` draws.

    No bit is constant over the classes (it would carry no information).
    """
    rng = np.random.default_rng(random_state)
    best, best_d = None, -1
    for _ in range(CANDIDATES):
        codes = rng.choice([-1.0, 1.0], size=(n_classes, code_length))
        if (np.abs(codes.sum(0)) == n_classes).any():
            continue
        distance = (code_length - codes @ codes.T) / 2
        d = int(distance[~np.eye(n_classes, dtype=bool)].min())
        if d > best_d:
            best, best_d = codes, d
    if best is None or best_d == 0:
        raise InputError(f"code_length={code_length} cannot give {n_classes} distinct codewords; make it longer")
    return best


class ECOC(nn.Module):
    """``backbone(x)`` → ``code_length`` bit logits → tanh → correlation with each codeword → log-probabilities.

    ``code_length`` defaults to max(16, 2·⌈log2 K⌉ + 4); the codebook is drawn from ``random_state``.
    ``output="proba"`` returns probabilities instead, as the published defense exposed them.
    """

    @declare(n_classes=Int(2), random_state=SEED, output=Choice(("log_proba", "proba")))
    def __init__(self, backbone: nn.Module, n_classes: int, *, code_length: int | None = None,
                 random_state: int = 0, output: str = "log_proba") -> None:
        super().__init__()
        if output not in ("log_proba", "proba"):
            raise InputError(f"output must be 'log_proba' or 'proba', got {output!r}")
        self.output = output
        if not isinstance(backbone, nn.Module):
            raise InputError(f"backbone must be a torch nn.Module, got {type(backbone).__name__}")
        n_classes = integer(n_classes, "n_classes", low=2)
        if code_length is None:
            code_length = max(16, 2 * math.ceil(math.log2(n_classes)) + 4)
        code_length = integer(code_length, "code_length", low=math.ceil(math.log2(n_classes)))
        self.backbone, self.n_classes, self.code_length = backbone, n_classes, code_length
        self.register_buffer("codes", torch.as_tensor(codebook(n_classes, code_length, random_state),
                                                      dtype=torch.float32))

    @property
    def min_distance(self) -> int:
        """The smallest Hamming distance between two codewords: ⌊(d − 1)/2⌋ bit errors are corrected."""
        c = self.codes.double()
        distance = (self.code_length - c @ c.T) / 2
        return int(distance[~torch.eye(self.n_classes, dtype=torch.bool)].min())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bits = self.backbone(x)
        if bits.ndim != 2 or bits.shape[1] != self.code_length:
            raise ModelError(f"the backbone returned shape {tuple(bits.shape)}; ECOC needs (N, {self.code_length}) "
                             "bit logits")
        scores = torch.tanh(bits) @ self.codes.to(bits.dtype).T
        return torch.softmax(scores, dim=1) if self.output == "proba" else torch.log_softmax(scores, dim=1)


@declare(progress=Real(0, 1))
def ecoc_loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """The NLL of the decoded log-probabilities: the loss for ``mg.defend.train(ECOC(...), loader, ecoc_loss)``."""
    return nn.functional.nll_loss(net(x), y)


@declare(progress=Real(0, 1))
def ecoc_hinge_loss(net: ECOC, x: torch.Tensor, y: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """mean(1 − c·tanh(b)) over the bits b and the class's codeword c: the loss for training every bit to ±1.

    Unlike the NLL, which stops pushing once the decoded class wins, it drives each bit on
    toward its sign, into the tanh saturation where the gradient is exactly zero (the regime
    the published evaluation stalled in).
    """
    return (1 - net.codes[y] * torch.tanh(net.backbone(x))).mean()


#: The released evaluation's step, a fraction of eps (``eps_iter = (2/3)·eps`` in Verma & Swami's AttackModel.py).
PUBLISHED_STEP = 2 / 3


def _published_pgd(clf: Any, x: torch.Tensor, y: torch.Tensor, *, eps: float, norm: str, steps: int,
                   random_state: int) -> torch.Tensor:
    """Which points stay correct under PGD as the defense's released code ran it (CleverHans 3 PGD).

    Not ``mg.attacks.PGD`` on purpose: ours is built not to stall (a margin fallback where the
    loss gradient vanishes, restarts, the ensemble around it); this one keeps what the published
    figure rested on. The loss is the cross-entropy of the decoded scores (the input of the
    final softmax, which CleverHans reads as logits; ``clf`` returns their log-softmax, which
    gives the same loss) against the model's own predictions; one uniform start in the box,
    clipped to the ball, then ``steps`` fixed steps of ``PUBLISHED_STEP``·eps along the sign
    (L∞) or the normalised gradient (L2). No restarts, no step schedule, and a zero gradient
    (every tanh bit saturated in float32) leaves the point where it is.
    """
    budget = torch.full((len(x),), float(eps), dtype=x.dtype)
    generator = torch.Generator().manual_seed(random_state)
    start = (torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1) * eps
    adv = clip_bounds(x + project(start, budget, norm), clf.bounds)
    with torch.no_grad():
        labels = clf.logits(x).argmax(1)
    for _ in range(steps):
        adv = adv.detach().requires_grad_(True)
        loss = nn.functional.cross_entropy(clf.logits(adv), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, adv)
        step = adv.detach() + PUBLISHED_STEP * eps * normalized_step(grad, norm)
        adv = clip_bounds(x + project(step - x, budget, norm), clf.bounds)
    with torch.no_grad():
        return clf.logits(adv).argmax(1) == y


def _as(model: ECOC, output: str) -> ECOC:
    """The same backbone and codebook (shared, not copied), decoded to ``output``."""
    twin = copy.copy(model)
    twin.output = output
    return twin


@declare(eps=Real(0.0), norm=NORM, steps=COUNT, random_state=INT_SEED)
def claimed_and_adaptive(model: ECOC, x: Any, y: Any, *, eps: float, norm: str = "linf", steps: int = 200,
                         random_state: int = 0, **model_options: Any) -> dict[str, Any]:
    """The ECOC model evaluated as its paper did and adaptively, on the same points, eps and norm.

    ``claimed``: the published protocol (``_published_pgd``, ``steps`` iterations; the paper ran
    200). ``adaptive``: ``evaluate_robustness`` (APGD-CE, targeted APGD-DLR, Square and its
    pitfall checks) on the model as the defense exposed it, probabilities out. Returns both
    robust accuracies, the clean one and the ids of the findings the evaluation raised.
    """
    from mathguard.models.torch_model import eval_mode
    from mathguard.models.wrap import as_classifier
    from mathguard.robustness.evaluate import evaluate_robustness

    if not isinstance(model, ECOC):
        raise InputError(f"model must be an mg.defend.ECOC, got {type(model).__name__}")
    scored = as_classifier(_as(model, "log_proba"), **model_options)
    xt = scored.as_input(x)
    yt = scored.as_labels(y, len(xt))
    with eval_mode(scored):
        claimed = _published_pgd(scored, xt, yt, eps=eps, norm=norm, steps=steps, random_state=random_state)
    adaptive = evaluate_robustness(as_classifier(_as(model, "proba"), **model_options), xt, yt, norm=norm,
                                   eps=[eps], random_state=random_state)
    return {"claimed": float(claimed.float().mean()),
            "adaptive": float(adaptive.metrics["robust_accuracy"][eps]),
            "clean": float(adaptive.metrics["clean_accuracy"]),
            "findings": sorted({f.id for f in adaptive.findings})}
