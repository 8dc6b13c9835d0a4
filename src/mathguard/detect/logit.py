"""Detectors that read the logits alone: max-softmax, entropy, energy and ODIN."""

from __future__ import annotations

import math
from typing import Any

import torch

from mathguard.detect import scores
from mathguard.detect.base import Detector
from mathguard.detect.forward import Forward, forward_batches
from mathguard.errors import InputError, UnsupportedError
from mathguard.params import Check, NON_NEGATIVE, POSITIVE, declare


def _temperature(value: "float | str") -> "float | str":
    if value == "fit":
        return value
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise InputError(f"temperature must be a positive number or 'fit', got {value!r}") from None
    if not (math.isfinite(t) and t > 0):
        raise InputError(f"temperature must be a positive finite number or 'fit', got {value!r}")
    return t


TEMPERATURE = Check(lambda value, _: _temperature(value), good=1.0, bad=(0.0, -1.0, math.nan, math.inf, "hot", None))


class _TemperatureDetector(Detector):
    """A logit detector whose temperature is given or fitted on labelled clean data."""

    @declare(temperature=TEMPERATURE)
    def __init__(self, clf: Any, temperature: "float | str" = 1.0) -> None:
        super().__init__(clf)
        self.temperature = _temperature(temperature)
        self.needs_fit = self.temperature == "fit"
        self._fitted = not self.needs_fit

    def _fit(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        if self.needs_fit:
            from mathguard.evaluation import fit_temperature

            if y is None:
                raise InputError(f"{self.name} with temperature='fit' needs labels: fit(x_train, y_train)")
            logits = torch.cat([out.logits for out in forward_batches(self.clf, x)])
            self.fitted_temperature = fit_temperature(y.numpy(), logits.double().numpy()).temperature

    @property
    def t(self) -> float:
        return self.fitted_temperature if self.temperature == "fit" else self.temperature


class MaxSoftmax(_TemperatureDetector):
    """Score = −max softmax(z/T): a confident prediction is trusted (Hendrycks & Gimpel 2017)."""

    name = "max-softmax"

    def _score_forward(self, out: Forward) -> torch.Tensor:
        return -scores.max_softmax(out.logits, self.t)


class Entropy(_TemperatureDetector):
    """Score = entropy of softmax(z/T) in bits: spread-out predictions are suspicious."""

    name = "entropy"

    def _score_forward(self, out: Forward) -> torch.Tensor:
        return scores.entropy_bits(torch.softmax(out.logits / self.t, dim=-1))


class Energy(_TemperatureDetector):
    """Score = −T·logsumexp(z/T) (Liu et al. 2020); unlike softmax it keeps the logits' scale."""

    name = "energy"

    def _score_forward(self, out: Forward) -> torch.Tensor:
        return scores.energy(out.logits, self.t)


class ODIN(Detector):
    """ODIN (Liang et al. 2018): max softmax at a high temperature after a small input step.

    The step x̃ = x − ε·sign(−∇ₓ log S_ŷ(x; T)) raises the top softmax score more for
    in-distribution inputs than for others. ε is in raw input units; x̃ stays in bounds.
    The sign makes the score piecewise constant in the step, so the adaptive attack
    sees it straight-through (the step is treated as a constant).
    """

    name = "odin"
    differentiable = False

    @declare(temperature=POSITIVE, epsilon=NON_NEGATIVE)
    def __init__(self, clf: Any, temperature: float = 1000.0, epsilon: float = 0.0014) -> None:
        super().__init__(clf)
        self.temperature = _temperature(temperature)
        if self.temperature == "fit":
            raise InputError("ODIN's temperature is a fixed hyper-parameter (the paper uses 1000), not 'fit'")
        if not self.clf.has_gradients:
            raise UnsupportedError(f"ODIN needs input gradients; this {self.clf.kind} model has none")
        self.epsilon = float(epsilon)

    def perturb(self, x: torch.Tensor) -> torch.Tensor:
        """The ODIN step for a batch (detached: a constant offset)."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logits = self.clf.logits(xg) / self.temperature
            log_top = torch.log_softmax(logits, dim=-1).amax(dim=-1)
            (grad,) = torch.autograd.grad(log_top.sum(), xg)
        return self.clf.clip(x.detach() + self.epsilon * grad.sign()) - x.detach()

    def _score_forward(self, out: Forward) -> torch.Tensor:
        shifted = out.x + self.perturb(out.x)
        return -scores.max_softmax(self.clf.logits(shifted), self.temperature)
