"""`load_model(spec)`: turn a command-line model spec into a Classifier.

Specs: ``path/to/file.py:build`` (call a factory), ``model.pt``/``model.pth`` (TorchScript),
``model.onnx`` (onnxruntime), ``model.pkl``/``model.pickle``/``model.joblib`` (scikit-learn;
only with ``trust_pickle=True``: unpickling runs whatever code the file names).
"""

from __future__ import annotations

import importlib.util
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch

from mathguard.errors import MathguardError, ModelError
from mathguard.models.base import Classifier
from mathguard.models.wrap import wrap

_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
_TORCHSCRIPT_SUFFIXES = (".pt", ".pth")
_SPEC_HELP = "expected file.py:factory, a TorchScript .pt/.pth, an .onnx file, or a .pkl/.joblib pickle"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _existing(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise MathguardError(f"model file not found: {path}")
    return p


def _from_factory(path: str, func: str) -> Any:
    if not path.endswith(".py") or not func.isidentifier():
        raise MathguardError(f"bad model spec {path}:{func!r}; {_SPEC_HELP}")
    file = _existing(path)
    name = f"_mathguard_model_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise MathguardError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise MathguardError(f"importing {path} failed: {_one_line(exc)}") from exc
    factory = getattr(module, func, None)
    if not callable(factory):
        raise MathguardError(f"{path} has no function {func!r}")
    try:
        return factory()
    except Exception as exc:
        raise MathguardError(f"model factory {path}:{func} raised {_one_line(exc)}") from exc


def _torchscript(file: Path) -> torch.nn.Module:
    try:
        with warnings.catch_warnings():  # torch ≥ 2.9 deprecates TorchScript, but .pt archives are still common
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(file), map_location="cpu").eval()
    except Exception as exc:
        raise ModelError(f"{file} is not a TorchScript archive ({_one_line(exc)}); save it with "
                         "torch.jit.save(torch.jit.script(model), path) or give a factory file.py:build") from None


def _unpickle(file: Path, trust_pickle: bool) -> Any:
    if not trust_pickle:
        raise MathguardError(f"refusing to unpickle {file}: loading a pickle can run arbitrary code; pass "
                             "trust_pickle=True (CLI: --trust-pickle) only if you trust where the file came from")
    try:
        if file.suffix == ".joblib":
            import joblib

            return joblib.load(file)
        with open(file, "rb") as fh:
            return pickle.load(fh)
    except Exception as exc:
        raise ModelError(f"could not unpickle {file}: {_one_line(exc)}") from None


def load_model(
    spec: str,
    *,
    trust_pickle: bool = False,
    input_shape: Sequence[int] | None = None,
    n_classes: int | None = None,
    bounds: tuple[float, float] | None = None,
    mean: Any = None,
    std: Any = None,
) -> Classifier:
    """Load the model named by ``spec`` and :func:`~mathguard.models.wrap` it.

    A factory may return a torch module, a fitted scikit-learn estimator, a callable or a
    ready Classifier. Torch models need ``input_shape`` (ONNX and sklearn know theirs).
    Every failure (missing file, bad spec, a factory that raises) is a one-line MathguardError.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise MathguardError(f"empty model spec; {_SPEC_HELP}")
    spec = spec.strip()
    options = dict(input_shape=input_shape, n_classes=n_classes, bounds=bounds, mean=mean, std=std)
    path, sep, func = spec.rpartition(":")
    if sep and path.endswith(".py"):
        obj = _from_factory(path, func)
    elif spec.endswith(".py"):
        raise MathguardError(f"model spec {spec!r} names no factory; write it as {spec}:build")
    else:
        suffix = Path(spec).suffix.lower()
        if suffix not in (*_TORCHSCRIPT_SUFFIXES, ".onnx", *_PICKLE_SUFFIXES):
            raise MathguardError(f"unsupported model spec {spec!r}; {_SPEC_HELP}")
        file = _existing(spec)
        if suffix == ".onnx":
            obj = file
        elif suffix in _TORCHSCRIPT_SUFFIXES:
            obj = _torchscript(file)
        else:
            obj = _unpickle(file, trust_pickle)
    return wrap(obj, **options)

