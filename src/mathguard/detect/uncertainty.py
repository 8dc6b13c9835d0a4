"""Bayesian-flavoured uncertainty: MC dropout and deep ensembles (information-lens measures).

Both look at a stack of S probability vectors per input. ``measure="mutual_information"``
scores I(y; model) = H(mean p) − mean H(p) (BALD: members disagree); ``"entropy"``
scores the predictive entropy H(mean p) (total uncertainty). Bits.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from mathguard.attacks.draws import PointDraws, content_ids
from mathguard.detect import scores
from mathguard.detect.base import Detector
from mathguard.detect.forward import Forward, check_logits
from mathguard.errors import InputError, ModelError
from mathguard.params import Choice, INT_SEED, Int, declare

MEASURES = {"mutual_information": scores.mutual_information, "entropy": scores.predictive_entropy}


def _measure(measure: str) -> str:
    if measure not in MEASURES:
        raise InputError(f"measure must be one of {sorted(MEASURES)}, got {measure!r}")
    return measure


class MCDropout(Detector):
    """Dropout left on at test time as approximate Bayesian inference (Gal & Ghahramani 2016).

    Only the dropout layers sample (batch norm stays frozen); ``samples`` passes per
    input. Each row's dropout masks are drawn from its own content and ``random_state``
    (``attacks.draws``), not from a batch generator, so a row's score does not depend on
    which rows share its batch or where it sits in it. Randomised, so the adaptive attack
    averages its gradient over the draws it makes (EOT).
    """

    name = "mc-dropout"

    @declare(samples=Int(2), measure=Choice(tuple(MEASURES)), random_state=INT_SEED)
    def __init__(self, clf: Any, *, samples: int = 20, measure: str = "mutual_information",
                 random_state: int = 0) -> None:
        super().__init__(clf)
        module = self.clf.module
        self._dropout = [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)] \
            if module is not None else []
        if not self._dropout:
            raise ModelError("MC dropout needs a torch model with Dropout layers; this one has none")
        odd = [type(m).__name__ for m in self._dropout if not isinstance(m, _MASKED)]
        if odd:
            raise ModelError(f"MC dropout supports Dropout and Dropout1d/2d/3d layers, not {', '.join(odd)}")
        self.samples, self.measure, self.random_state = samples, _measure(measure), random_state

    def _score_forward(self, out: Forward) -> torch.Tensor:
        # Scoring runs in eval mode, where dropout is the identity: a hook applies each row's own mask.
        draws = PointDraws(self.random_state, content_ids(out.x))
        stack = []
        for s in range(self.samples):
            handles = [m.register_forward_hook(_row_masks(draws, (s, i))) for i, m in enumerate(self._dropout)]
            try:
                logits = check_logits(self.clf.logits(out.x), len(out.x), self.clf.n_classes)
            finally:
                for h in handles:
                    h.remove()
            stack.append(torch.softmax(logits, dim=-1))
        return MEASURES[self.measure](torch.stack(stack))


_MASKED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def _row_masks(draws: PointDraws, key: tuple[int, ...]) -> Any:
    """A forward hook that drops units (or channels, for Dropout1d/2d/3d) with the row's own draws."""
    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        if module.training:  # the user's own train-mode dropout already sampled: never mask twice
            raise ModelError("MC dropout scores in eval mode; a dropout layer was in training mode")
        channels = not isinstance(module, nn.Dropout)
        shape = tuple(output.shape[1:2]) + (1,) * (output.ndim - 2) if channels else tuple(output.shape[1:])
        if module.p >= 1:
            return output * 0
        keep = (draws.uniform(key, shape, torch.float64) >= module.p).to(output.device, output.dtype)
        return output * keep / (1 - module.p)

    return hook


class DeepEnsemble(Detector):
    """Disagreement of independently trained members (Lakshminarayanan et al. 2017).

    ``ensemble`` is an ``mg.defend.Ensemble`` or a list of models (wrapped into one);
    the detector watches the ensemble as its classifier, so the guard predicts with it.
    """

    name = "deep-ensemble"

    @declare(measure=Choice(tuple(MEASURES)))
    def __init__(self, ensemble: "Any | Sequence[Any]", *, measure: str = "mutual_information",
                 **model_options: Any) -> None:
        from mathguard.models.ensemble import Ensemble

        if not isinstance(ensemble, Ensemble):
            if not isinstance(ensemble, (list, tuple)):
                raise InputError("DeepEnsemble needs an mg.defend.Ensemble or a list of at least two models")
            ensemble = Ensemble(list(ensemble), **model_options)
        super().__init__(ensemble)
        self.members = ensemble.members
        self.measure = _measure(measure)

    def _score_forward(self, out: Forward) -> torch.Tensor:
        stack = torch.stack([torch.softmax(check_logits(m.logits(out.x), len(out.x), m.n_classes), dim=-1)
                             for m in self.members])
        return MEASURES[self.measure](stack)
