"""One decision from several detectors: their conformal p-values merged, then calibrated again.

Detectors watching one model are rarely independent, so Fisher's χ² reference law
does not hold for them. Instead the merged statistic is itself a score and gets its
own split-conformal threshold, which needs no independence: calibrate the members
on one clean split and the combination on another.
"""

from __future__ import annotations

from typing import Sequence

import torch

from mathguard.detect.adaptive import joint_surrogate
from mathguard.detect.base import Detector
from mathguard.detect.forward import Forward
from mathguard.errors import InputError
from mathguard.params import Choice, declare

METHODS = ("fisher", "bonferroni")


class Combined(Detector):
    """Merge calibrated detectors: ``"fisher"`` scores −2 Σ log pᵢ, ``"bonferroni"`` scores −log minᵢ pᵢ."""

    name = "combined"

    @declare(method=Choice(METHODS))
    def __init__(self, detectors: Sequence[Detector], method: str = "fisher") -> None:
        if len(detectors) < 2:
            raise InputError("Combined needs at least two detectors")
        clf = detectors[0].clf
        if any(d.clf is not clf for d in detectors):
            raise InputError("combined detectors must watch the same classifier object")
        for d in detectors:
            d._check_calibrated()
        super().__init__(clf)
        self.detectors, self.method = list(detectors), method
        self.layers = frozenset().union(*(d.layers for d in detectors))
        self.differentiable = all(d.differentiable for d in detectors)

    def _score_forward(self, out: Forward) -> torch.Tensor:
        logp = torch.stack([torch.from_numpy(d.p_values_of(d._score_forward(out).detach().double().cpu().numpy())).log()
                            for d in self.detectors])
        return -2 * logp.sum(0) if self.method == "fisher" else -logp.amin(0)

    def surrogate(self, out: Forward) -> torch.Tensor:
        """Smooth maximum of the members' surrogates: passing means passing every member."""
        return joint_surrogate(self.detectors, out)
