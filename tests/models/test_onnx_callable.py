"""ONNX round trips (skl2onnx and torch.onnx exports) and validation of predict_proba callables."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

import mathguard as mg
from mathguard.errors import ModelError


@pytest.fixture(scope="module")
def logreg(digits):
    X, y = digits
    return LogisticRegression(max_iter=300).fit(X, y)


def _small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)).eval()


def _export(net: nn.Module, path, dynamic: bool) -> None:
    kwargs = {"dynamic_axes": {"x": {0: "n"}, "logits": {0: "n"}}} if dynamic else {}
    torch.onnx.export(net, (torch.zeros(1, 64),), str(path), input_names=["x"], output_names=["logits"],
                      dynamo=False, **kwargs)


@pytest.mark.parametrize("zipmap", [True, False])
def test_skl2onnx_round_trip(digits, logreg, tmp_path, zipmap):
    import onnxruntime  # noqa: F401
    import skl2onnx
    from skl2onnx.common.data_types import FloatTensorType

    X, _ = digits
    options = None if zipmap else {id(logreg): {"zipmap": False}}
    proto = skl2onnx.convert_sklearn(logreg, initial_types=[("x", FloatTensorType([None, 64]))], options=options)
    path = tmp_path / "logreg.onnx"
    path.write_bytes(proto.SerializeToString())
    for source in (path, str(path), proto.SerializeToString(), proto):
        clf = mg.wrap(source)
        assert clf.kind == "onnx" and not clf.has_gradients and clf.module is None
        assert clf.n_classes == 10 and clf.input_shape == (64,)
        proba = clf.proba(torch.from_numpy(X[:300])).numpy()
        np.testing.assert_allclose(proba, logreg.predict_proba(X[:300]), atol=1e-5)  # onnxruntime computes in float32


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's legacy exporter needs no onnxscript
@pytest.mark.parametrize("dynamic", [True, False])
def test_torch_onnx_round_trip(digits, tmp_path, dynamic):
    import onnxruntime  # noqa: F401
    import onnx  # noqa: F401
    X, _ = digits
    net = _small_net()
    path = tmp_path / "net.onnx"
    _export(net, path, dynamic)
    clf = mg.wrap(path, bounds=(0, 1))
    assert clf.kind == "onnx" and clf.bounds == (0.0, 1.0) and clf.n_classes == 10
    x = torch.from_numpy(X[:50].astype(np.float32))
    with torch.no_grad():
        np.testing.assert_allclose(clf.logits(x).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-5)


def test_onnx_errors(tmp_path, monkeypatch):
    import onnxruntime  # noqa: F401
    with pytest.raises(ModelError, match="ONNX file not found"):
        mg.wrap(tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="could not load the ONNX model"):
        mg.wrap(b"definitely not a protobuf graph")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModelError, match=r"mathguard\[onnx\]"):
        mg.wrap(b"anything")


def test_callable_wraps_predict_proba(digits, logreg):
    X, _ = digits
    clf = mg.wrap(logreg.predict_proba, input_shape=(64,), n_classes=10)
    assert clf.kind == "callable" and not clf.has_gradients
    proba = clf.proba(torch.from_numpy(X[:100])).numpy()
    np.testing.assert_allclose(proba, logreg.predict_proba(X[:100]), atol=1e-12)
    inferred = mg.wrap(logreg.predict_proba, input_shape=(64,))
    assert inferred.n_classes == 10


def test_callable_with_normalisation_sees_standardised_inputs():
    seen = []

    def fn(x):
        seen.append(x.copy())
        return np.full((len(x), 2), 0.5)

    clf = mg.wrap(fn, input_shape=(3,), n_classes=2, mean=[1.0, 2.0, 3.0], std=[2.0, 2.0, 2.0])
    clf.logits(torch.tensor([[3.0, 2.0, 1.0]]))
    np.testing.assert_allclose(seen[-1], [[1.0, 0.0, -1.0]])


@pytest.mark.parametrize("fn, message", [
    (lambda x: np.full((len(x), 3), 1 / 3), r"shape \(4, 3\) for 4 inputs, expected \(4, 10\)"),
    (lambda x: np.full((len(x) + 1, 10), 0.1), r"shape \(5, 10\)"),
    (lambda x: np.full(len(x), 0.1), r"shape \(4,\)"),
    (lambda x: np.where(np.arange(10) == 0, np.nan, 0.1) * np.ones((len(x), 1)), "NaN or Inf in 4 of 4 rows"),
    (lambda x: np.full((len(x), 10), 0.1) - np.eye(10)[0] * 0.2, "negative values"),
    (lambda x: np.full((len(x), 10), 0.2), r"rows summing to 2..2 instead of 1"),
    (lambda x: "not an array", "not a numeric array"),
])
def test_callable_output_is_validated(fn, message):
    clf = mg.wrap(fn, input_shape=(64,), n_classes=10)
    with pytest.raises(ModelError, match=message):
        clf.logits(torch.zeros(4, 64))


def test_callable_errors():
    with pytest.raises(ModelError, match="needs input_shape"):
        mg.wrap(lambda x: x)

    def broken(x):
        raise RuntimeError("backend offline\nsecond line")

    with pytest.raises(ModelError, match=r"^broken failed on a batch of shape \(1, 2\): RuntimeError: backend offline$"):
        mg.wrap(broken, input_shape=(2,))
    with pytest.raises(ModelError, match="at least 2 classes"):
        mg.wrap(lambda x: np.ones((len(x), 1)), input_shape=(2,))
    with pytest.raises(ModelError, match="cannot wrap an object of type int"):
        mg.wrap(3)
