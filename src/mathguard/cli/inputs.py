"""Options and loaders shared by the commands that take a model and labelled inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from mathguard.errors import InputError
from mathguard.io import npz_names, read_npz


def parse_floats(text: str | None, what: str) -> tuple[float, ...] | None:
    """'0,1' → (0.0, 1.0); a clear error naming the option otherwise."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{what} must be comma-separated numbers, got {text!r}") from None


def load_inputs(path: str) -> np.ndarray:
    """Unlabelled inputs from an .npz file holding an array ``x``."""
    return read_npz(path, ("x",))["x"]


def has_labels(path: str) -> bool:
    """Whether an .npz file (already readable) holds an array ``y`` too."""
    return "y" in npz_names(path)


def load_labeled(path: str, max_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels from an .npz file holding arrays ``x`` and ``y`` (never unpickled)."""
    data = read_npz(path, ("x", "y"))
    x, y = data["x"], data["y"]
    if len(x) != len(y):
        raise InputError(f"{Path(path).name}: x has {len(x)} rows but y has {len(y)}")
    if max_samples is not None:
        if max_samples < 1:
            raise InputError(f"--max-samples must be at least 1, got {max_samples}")
        x, y = x[:max_samples], y[:max_samples]
    return x, y


def _options(func: Callable[..., Any], options: list[Callable[..., Any]]) -> Callable[..., Any]:
    for option in reversed(options):
        func = option(func)
    return func


def classifier_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--model and the wrap options, for commands that take a model and their own data files."""
    return _options(func, [
        click.option("--model", "model_spec", required=True,
                     help="file.py:factory, TorchScript .pt, .onnx, or a scikit-learn pickle (needs --trust-pickle)."),
        click.option("--input-shape", default=None, help="Shape of one input, e.g. 1,28,28 (default: from data)."),
        click.option("--bounds", default=None, help="Valid input range low,high, e.g. 0,1."),
        click.option("--trust-pickle", is_flag=True, help="Allow loading a pickled model (runs code from the file)."),
    ])


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--model, --data and the wrap options, in one place for every model-taking command."""
    return classifier_options(_options(func, [
        click.option("--data", required=True, help=".npz file with arrays x (inputs) and y (integer labels)."),
        click.option("--max-samples", type=int, default=None, help="Use only the first N samples."),
    ]))


def load_classifier(model_spec: str, input_shape: str | None, bounds: str | None, trust_pickle: bool,
                    data_shape: tuple[int, ...]) -> Any:
    """The model behind the protocol; one input's shape defaults to that of the data."""
    from mathguard.models.load import load_model

    shape = parse_floats(input_shape, "--input-shape")
    b = parse_floats(bounds, "--bounds")
    if b is not None and len(b) != 2:
        raise InputError(f"--bounds needs two numbers low,high, got {bounds!r}")
    return load_model(model_spec, trust_pickle=trust_pickle,
                      input_shape=tuple(int(s) for s in shape) if shape else data_shape, bounds=b)


def load_model_and_data(model_spec: str, data: str, input_shape: str | None, bounds: str | None,
                        max_samples: int | None, trust_pickle: bool) -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = load_labeled(data, max_samples)
    return load_classifier(model_spec, input_shape, bounds, trust_pickle, tuple(x.shape[1:])), x, y
