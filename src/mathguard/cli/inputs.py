"""Options and loaders shared by the commands that take a model and labelled inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from mathguard.errors import InputError


def parse_floats(text: str | None, what: str) -> tuple[float, ...] | None:
    """'0,1' → (0.0, 1.0); a clear error naming the option otherwise."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{what} must be comma-separated numbers, got {text!r}") from None


def load_labeled(path: str, max_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels from an .npz file holding arrays ``x`` and ``y`` (never unpickled)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"data file not found: {path}")
    if p.suffix != ".npz":
        raise InputError(f"data must be an .npz file with arrays 'x' and 'y', got {p.name}")
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = {"x", "y"} - set(data.files)
            if missing:
                raise InputError(f"{p.name} lacks array(s) {sorted(missing)}; it has {sorted(data.files)}")
            x, y = data["x"], data["y"]
    except ValueError as exc:  # object arrays would need pickle
        raise InputError(f"cannot read {p.name} without unpickling: {exc}") from None
    if len(x) != len(y):
        raise InputError(f"{p.name}: x has {len(x)} rows but y has {len(y)}")
    if len(x) == 0:
        raise InputError(f"{p.name} holds no samples")
    if max_samples is not None:
        if max_samples < 1:
            raise InputError(f"--max-samples must be at least 1, got {max_samples}")
        x, y = x[:max_samples], y[:max_samples]
    return x, y


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--model, --data and the wrap options, in one place for every model-taking command."""
    options = [
        click.option("--model", "model_spec", required=True,
                     help="file.py:factory, TorchScript .pt, .onnx, or a scikit-learn pickle (needs --trust-pickle)."),
        click.option("--data", required=True, help=".npz file with arrays x (inputs) and y (integer labels)."),
        click.option("--input-shape", default=None, help="Shape of one input, e.g. 1,28,28 (default: from data)."),
        click.option("--bounds", default=None, help="Valid input range low,high, e.g. 0,1."),
        click.option("--max-samples", type=int, default=None, help="Use only the first N samples."),
        click.option("--trust-pickle", is_flag=True, help="Allow loading a pickled model (runs code from the file)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_model_and_data(model_spec: str, data: str, input_shape: str | None, bounds: str | None,
                        max_samples: int | None, trust_pickle: bool) -> tuple[Any, np.ndarray, np.ndarray]:
    from mathguard.models.load import load_model

    x, y = load_labeled(data, max_samples)
    shape = parse_floats(input_shape, "--input-shape")
    b = parse_floats(bounds, "--bounds")
    if b is not None and len(b) != 2:
        raise InputError(f"--bounds needs two numbers low,high, got {bounds!r}")
    clf = load_model(model_spec, trust_pickle=trust_pickle,
                     input_shape=tuple(int(s) for s in shape) if shape else tuple(x.shape[1:]),
                     bounds=b)
    return clf, x, y
