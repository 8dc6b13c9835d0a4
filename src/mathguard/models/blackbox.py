"""Black-box classifiers: anything we can only query (sklearn forests, ONNX, callables).

They answer logits in float64 and have no gradients, so only score- or decision-based
attacks apply. Every answer is validated, because a wrong output convention (scores
where probabilities were promised, a transposed array) silently ruins every check after it.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch

from mathguard.errors import ModelError
from mathguard.models.base import (Classifier, as_tensor, check_bounds, check_input_shape, check_normalisation,
                                   check_output)
from mathguard.params import Choice, declare

#: Row sums of a probability output may differ from 1 by this much (float32 softmax over many classes).
PROBA_SUM_TOL = 1e-4
#: log(0) would be -inf; clamp probabilities to this before taking the log.
PROBA_FLOOR = 1e-12

Output = Literal["proba", "logits"]


def validate_output(out: Any, n: int, n_classes: int | None, output: Output, name: str) -> np.ndarray:
    """Check a model's answer for ``n`` inputs and return it as a float64 (n, C) array.

    Raises a one-line ModelError naming what is wrong: shape, NaN/Inf, negative
    "probabilities" or rows that do not sum to 1.
    """
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelError(f"{name} returned {type(out).__name__}, not a numeric array") from None
    bad = int((~np.isfinite(arr).all(axis=1)).sum()) if arr.ndim == 2 else 0
    check_output(arr.shape, bad, n, n_classes, name)
    if output == "proba" and arr.size:
        if arr.min() < 0:
            raise ModelError(f"{name} returned negative values (min {arr.min():.4g}): these are scores or "
                             "logits, not probabilities")
        sums = arr.sum(axis=1)
        if np.abs(sums - 1).max() > PROBA_SUM_TOL:
            raise ModelError(f"{name} returned rows summing to {sums.min():.4g}..{sums.max():.4g} instead of 1: "
                             "not probabilities")
    return arr


class BlackBoxClassifier(Classifier):
    """A classifier known only through a function of numpy batches.

    ``fn`` maps an (N, *input_shape) array of ``input_dtype`` to (N, C) probabilities
    (``output="proba"``; logits are then their clamped log, so softmax(logits) == proba)
    or to (N, C) logits (``output="logits"``). ``mean``/``std`` are applied before ``fn`` so
    the classifier lives in raw input space like every other one.
    """

    has_gradients = False

    @declare(output=Choice(("proba", "logits")))
    def __init__(
        self,
        fn: Callable[[np.ndarray], Any],
        *,
        input_shape: Sequence[int],
        n_classes: int | None = None,
        output: Output = "proba",
        kind: str = "callable",
        bounds: tuple[float, float] | None = None,
        mean: Any = None,
        std: Any = None,
        input_dtype: Any = np.float64,
        name: str = "model",
    ) -> None:
        self.fn = fn
        self.output = output
        self.kind = kind
        self.name = name
        self.input_dtype = np.dtype(input_dtype)
        self.input_shape = check_input_shape(input_shape)
        self.bounds = check_bounds(bounds)
        self._mean, self._std = check_normalisation(mean, std) or (None, None)
        if n_classes is None:
            n_classes = self._query(np.zeros((1, *self.input_shape)), None).shape[1]
        if int(n_classes) < 2:
            raise ModelError(f"a classifier needs at least 2 classes, got {n_classes}")
        self.n_classes = int(n_classes)

    def _query(self, x: np.ndarray, n_classes: int | None) -> np.ndarray:
        if self._mean is not None:
            x = (x - self._mean) / self._std
        try:
            out = self.fn(np.ascontiguousarray(x, dtype=self.input_dtype))
        except Exception as exc:  # the user's model failing is a model problem, said in one line
            raise ModelError(f"{self.name} failed on a batch of shape {x.shape}: "
                             f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
        return validate_output(out, len(x), n_classes, self.output, self.name)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = as_tensor(x)
        arr = self._query(x.detach().cpu().numpy().astype(np.float64), self.n_classes)
        if self.output == "proba":
            arr = np.log(np.clip(arr, PROBA_FLOOR, None))
        return torch.from_numpy(arr).to(x.device)
