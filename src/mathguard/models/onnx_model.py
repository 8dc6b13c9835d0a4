"""ONNX models through onnxruntime, as black-box classifiers (optional: ``mathguard[onnx]``).

Which output is read: one whose name contains "prob" (skl2onnx's ``output_probability``)
is taken as probabilities; otherwise the first float output is taken as logits (what a
``torch.onnx.export`` of a classifier gives). ``output=`` overrides the choice.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from mathguard.errors import ModelError
from mathguard.models.blackbox import BlackBoxClassifier, Output

_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}


def _session(source: Any) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("ONNX models need onnxruntime: pip install 'mathguard[onnx]'") from None
    if type(source).__name__ == "ModelProto":
        source = source.SerializeToString()
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise ModelError(f"ONNX file not found: {os.fspath(source)}")
        source = os.fspath(source)
    elif isinstance(source, bytearray):
        source = bytes(source)
    try:
        return ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for corrupt graphs
        raise ModelError(f"could not load the ONNX model: {str(exc).splitlines()[0]}") from None


def _pick_output(sess: Any, output: Output | None) -> tuple[str, Output]:
    outs = sess.get_outputs()
    probs = [o for o in outs if "prob" in o.name.lower()]
    floats = [o for o in outs if o.type in _DTYPES]
    if output in (None, "proba") and probs:
        return probs[0].name, "proba"
    if floats:
        return floats[0].name, output or "logits"
    raise ModelError("the ONNX model has no float output to read as logits or probabilities; outputs: "
                     + ", ".join(f"{o.name} {o.type}" for o in outs))


def _as_array(out: Any) -> Any:
    """skl2onnx's ZipMap output is a list of {class: probability}; make it an (N, C) array."""
    if isinstance(out, list) and out and isinstance(out[0], dict):
        return np.array([list(row.values()) for row in out], dtype=np.float64)
    return out


def onnx_classifier(
    source: Any,
    *,
    input_shape: Sequence[int] | None = None,
    n_classes: int | None = None,
    bounds: tuple[float, float] | None = None,
    mean: Any = None,
    std: Any = None,
    output: Output | None = None,
) -> BlackBoxClassifier:
    """Wrap an ONNX model (path, bytes or ``onnx.ModelProto``) with one input as a black-box classifier."""
    sess = _session(source)
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"the ONNX model has {len(inputs)} inputs; a classifier must take exactly one")
    inp = inputs[0]
    if inp.type not in _DTYPES:
        raise ModelError(f"ONNX input {inp.name!r} has type {inp.type}; only float and double inputs are supported")
    if input_shape is None:
        dims = inp.shape[1:]
        if not dims or not all(isinstance(d, int) and d > 0 for d in dims):
            raise ModelError(f"ONNX input {inp.name!r} has shape {inp.shape} with unknown sizes; "
                             "pass input_shape=(...) for one input")
        input_shape = tuple(dims)
    name, kind = _pick_output(sess, output)

    def run(x: np.ndarray) -> Any:
        return _as_array(sess.run([name], {inp.name: x})[0])

    if inp.shape and inp.shape[0] == 1:  # exported with a fixed batch of one: query row by row

        def run_rows(x: np.ndarray) -> Any:
            return np.concatenate([np.asarray(run(x[i : i + 1]), dtype=np.float64) for i in range(len(x))])

        fn = run_rows
    else:
        fn = run

    return BlackBoxClassifier(fn, input_shape=input_shape, n_classes=n_classes, output=kind, kind="onnx",
                              bounds=bounds, mean=mean, std=std, input_dtype=_DTYPES[inp.type],
                              name=f"ONNX output {name!r}")
