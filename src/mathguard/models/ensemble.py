"""Ensembles as one Classifier, with the numbers that say whether members fail together."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from mathguard.errors import InputError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode
from mathguard.models.wrap import as_classifier
from mathguard.params import Choice, declare


class Ensemble(Classifier):
    """Average of members' probabilities (``vote="soft"``) or majority of their labels (``"hard"``).

    Soft voting is differentiable when every member is, so white-box attacks apply to the
    ensemble as a whole; its logits are log of the mean probability.
    """

    kind = "ensemble"

    @declare(vote=Choice(("soft", "hard")))
    def __init__(self, members: Sequence[Any], vote: str = "soft", **model_options: Any) -> None:
        if len(members) < 2:
            raise InputError("an ensemble needs at least two members")
        self.members = [as_classifier(m, f"member {i}", **model_options) for i, m in enumerate(members)]
        first = self.members[0]
        for m in self.members[1:]:
            if m.n_classes != first.n_classes or m.input_shape != first.input_shape:
                raise InputError("ensemble members must share the number of classes and the input shape")
        self.vote = vote
        self.n_classes, self.input_shape, self.bounds = first.n_classes, first.input_shape, first.bounds
        self.has_gradients = vote == "soft" and all(m.has_gradients for m in self.members)

    @property
    def parts(self) -> list[Classifier]:
        return list(self.members)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.vote == "soft":
            mean = torch.stack([m.proba(x).to(torch.float32) for m in self.members]).mean(0)
            return mean.clamp_min(1e-12).log()
        votes = torch.stack([m.logits(x).argmax(-1) for m in self.members], dim=1)
        counts = torch.nn.functional.one_hot(votes, self.n_classes).sum(1).float()
        return (counts / len(self.members)).clamp_min(1e-12).log()

    @torch.no_grad()
    def disagreement(self, x: Any) -> np.ndarray:
        """(M, M) fraction of inputs on which members i and j predict different labels (diversity)."""
        xt = self.as_input(x)
        with eval_mode(self):
            preds = torch.stack([m.predict(xt) for m in self.members])
        return (preds.unsqueeze(0) != preds.unsqueeze(1)).float().mean(-1).numpy()

    def transferability(self, x: Any, y: Any, attack: Any, eps: float) -> np.ndarray:
        """(M, M): entry (i, j) = fraction of examples crafted on member i that fool member j.

        Only examples that fool their source and that j classified correctly count; a
        high off-diagonal entry means one attack breaks several members at once.
        """
        xt = self.as_input(x)
        yt = self.as_labels(y, len(xt))
        m_count = len(self.members)
        out = np.full((m_count, m_count), math.nan)
        for i, src in enumerate(self.members):
            res = attack(src, xt, yt, eps=eps)
            adv, fooled_src = res.adversarial[0], res.success[0]
            with eval_mode(self):
                for j, dst in enumerate(self.members):
                    ok = fooled_src & (dst.predict(xt) == yt)
                    if ok.any():
                        out[i, j] = float((dst.predict(adv[ok]) != yt[ok]).float().mean())
        return out
