"""Bayesian-flavoured uncertainty: MC dropout and deep ensembles (information-lens measures).

Both look at a stack of S probability vectors per input. ``measure="mutual_information"``
scores I(y; model) = H(mean p) − mean H(p) (BALD: members disagree); ``"entropy"``
scores the predictive entropy H(mean p) (total uncertainty). Bits.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from mathguard.detect import scores
from mathguard.detect.base import Detector
from mathguard.detect.forward import Forward, check_logits
from mathguard.errors import InputError, ModelError
from mathguard.validate import integer

MEASURES = {"mutual_information": scores.mutual_information, "entropy": scores.predictive_entropy}


def _measure(measure: str) -> str:
    if measure not in MEASURES:
        raise InputError(f"measure must be one of {sorted(MEASURES)}, got {measure!r}")
    return measure


class MCDropout(Detector):
    """Dropout left on at test time as approximate Bayesian inference (Gal & Ghahramani 2016).

    Only the dropout layers sample (batch norm stays frozen); ``samples`` passes per
    input, seeded, so a score is reproducible. Randomised, so the adaptive attack
    averages its gradient over the draws it makes (EOT).
    """

    name = "mc-dropout"

    def __init__(self, clf: Any, *, samples: int = 20, measure: str = "mutual_information",
                 random_state: int = 0) -> None:
        super().__init__(clf)
        module = self.clf.module
        self._dropout = [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)] \
            if module is not None else []
        if not self._dropout:
            raise ModelError("MC dropout needs a torch model with Dropout layers; this one has none")
        integer(samples, "samples", low=2)
        self.samples, self.measure, self.random_state = samples, _measure(measure), random_state

    def _score_forward(self, out: Forward) -> torch.Tensor:
        modes = [m.training for m in self._dropout]
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.random_state)
                for m in self._dropout:
                    m.train()
                stack = torch.stack([torch.softmax(check_logits(self.clf.logits(out.x), len(out.x),
                                                                self.clf.n_classes), dim=-1)
                                     for _ in range(self.samples)])
        finally:
            for m, mode in zip(self._dropout, modes):
                m.training = mode
        return MEASURES[self.measure](stack)


class DeepEnsemble(Detector):
    """Disagreement of independently trained members (Lakshminarayanan et al. 2017).

    ``ensemble`` is an ``mg.defend.Ensemble`` or a list of models (wrapped into one);
    the detector watches the ensemble as its classifier, so the guard predicts with it.
    """

    name = "deep-ensemble"

    def __init__(self, ensemble: "Any | Sequence[Any]", *, measure: str = "mutual_information",
                 **wrap_kwargs: Any) -> None:
        from mathguard.defend.ensemble import Ensemble

        if not isinstance(ensemble, Ensemble):
            if not isinstance(ensemble, (list, tuple)):
                raise InputError("DeepEnsemble needs an mg.defend.Ensemble or a list of at least two models")
            ensemble = Ensemble(list(ensemble), **wrap_kwargs)
        super().__init__(ensemble)
        self.members = ensemble.members
        self.measure = _measure(measure)

    def _score_forward(self, out: Forward) -> torch.Tensor:
        stack = torch.stack([torch.softmax(check_logits(m.logits(out.x), len(out.x), m.n_classes), dim=-1)
                             for m in self.members])
        return MEASURES[self.measure](stack)
