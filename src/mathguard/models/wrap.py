"""`wrap()`: dispatch any supported model object to its Classifier."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from mathguard.errors import ModelError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import TorchClassifier


def _infer_n_classes(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    was_training = net.training
    net.eval()
    with torch.no_grad():
        out = net(torch.zeros(1, *input_shape))
    net.train(was_training)
    if out.ndim != 2:
        raise ModelError(f"model output has shape {tuple(out.shape)}; a classifier must return (N, classes)")
    return int(out.shape[1])


def wrap(
    obj: Any,
    *,
    bounds: tuple[float, float] | None = None,
    input_shape: Sequence[int] | None = None,
    n_classes: int | None = None,
    mean: Any = None,
    std: Any = None,
) -> Classifier:
    """Put ``obj`` behind the Classifier protocol.

    ``bounds`` is the valid raw input range; ``mean``/``std`` normalisation is applied
    inside the model so attacks and certificates work in raw input space.
    """
    if isinstance(obj, Classifier):
        return obj
    if isinstance(obj, nn.Module):
        if input_shape is None:
            raise ModelError("wrap(torch module) needs input_shape=(...) for one input, e.g. (1, 28, 28)")
        shape = tuple(int(d) for d in input_shape)
        k = n_classes if n_classes is not None else _infer_n_classes(obj, shape)
        return TorchClassifier(obj, shape, k, bounds=bounds, mean=mean, std=std)
    raise ModelError(f"cannot wrap an object of type {type(obj).__name__}")
