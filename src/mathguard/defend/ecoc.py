"""Error-correcting output codes as a defense (Verma & Swami, NeurIPS 2019), and why to distrust its claims.

Each class gets a ±1 codeword of ``code_length`` bits, far apart in Hamming distance; the
backbone predicts the bits (tanh), and a class's score is the correlation of the predicted
bits with its codeword, so one flipped bit does not flip the class. The module outputs class
log-probabilities and trains with the usual loop (NLL loss).

The published robustness did not survive adaptive attacks (Tramèr et al. 2020, "On adaptive
attacks to adversarial example defenses"): trained bits saturate the tanh, its gradient
underflows to zero, and gradient attacks from the clean point stall. The attack that breaks it
works on the decoded scores, or needs no gradient at all; ``mg.evaluate_robustness`` runs
such attacks (APGD with the DLR loss, Square) and its pitfall checks flag the masking, so
compare its figure with what a plain gradient attack "claims".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from mathguard.errors import InputError, ModelError
from mathguard.validate import integer
from mathguard.params import Choice, Int, Real, SEED, declare

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
    ``output="proba"`` returns probabilities instead, as the published defense exposed them: the
    form whose evaluation over-claimed (a gradient attack applies softmax again and stalls).
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


def claimed_and_adaptive(model: ECOC, x: Any, y: Any, *, eps: float, norm: str = "linf", steps: int = 20,
                         **model_options: Any) -> dict[str, Any]:
    """The ECOC model as the defense published it (probabilities out) evaluated twice, side by side.

    ``claimed``: PGD on the cross-entropy from the clean point, ``steps`` iterations, as the original
    evaluation ran it. ``adaptive``: ``evaluate_robustness`` (APGD-CE, APGD-DLR, targeted APGD, Square
    and its pitfall checks) on the very same model. Returns both robust accuracies, the clean one and
    the ids of the pitfall findings the evaluation raised.
    """
    from mathguard.attacks import PGD
    from mathguard.models.wrap import as_classifier
    from mathguard.robustness.evaluate import evaluate_robustness

    if not isinstance(model, ECOC):
        raise InputError(f"model must be an mg.defend.ECOC, got {type(model).__name__}")
    published = ECOC(model.backbone, model.n_classes, code_length=model.code_length, output="proba")
    published.codes.copy_(model.codes)
    clf = as_classifier(published.eval(), **model_options)
    claimed = PGD(norm=norm, steps=steps, random_start=False)(clf, x, y, eps=eps)
    adaptive = evaluate_robustness(clf, x, y, norm=norm, eps=[eps])
    return {"claimed": float(claimed.robust_accuracy[eps]),
            "adaptive": float(adaptive.metrics["robust_accuracy"][eps]),
            "clean": float(adaptive.metrics["clean_accuracy"]),
            "findings": sorted({f.id for f in adaptive.findings})}
