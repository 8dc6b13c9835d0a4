"""load_model: every route of a command-line model spec, and its one-line refusals."""

from __future__ import annotations

import pickle
import textwrap

import joblib
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from mathguard.errors import MathguardError
from mathguard.models.load import load_model
from mathguard.models.sklearn_twin import SklearnTwin
from mathguard.models.torch_model import TorchClassifier


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10)).eval()


def _factory(tmp_path, body: str, name: str = "model.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def _same_logits(clf, reference, X) -> None:
    x = torch.from_numpy(X[:20].astype(np.float32))
    with torch.no_grad():
        np.testing.assert_allclose(clf.logits(x).double().numpy(), reference(x), rtol=1e-5, atol=1e-5)


def _error(call) -> str:
    with pytest.raises(MathguardError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_factory_returning_module_estimator_or_classifier(tmp_path, digits):
    X, _ = digits
    spec = _factory(tmp_path, """
        from dataclasses import dataclass
        import torch
        from torch import nn
        from sklearn.datasets import load_digits
        from sklearn.linear_model import LogisticRegression
        import mathguard as mg

        @dataclass
        class Config:
            hidden: int = 8

        def build():
            torch.manual_seed(0)
            return nn.Sequential(nn.Linear(64, Config().hidden), nn.ReLU(), nn.Linear(8, 10)).eval()

        def build_sklearn():
            d = load_digits()
            return LogisticRegression(max_iter=300).fit(d.data / 16.0, d.target)

        def build_wrapped():
            return mg.wrap(build(), input_shape=(64,), bounds=(0, 1))
    """)
    clf = load_model(f"{spec}:build", input_shape=(64,), bounds=(0, 1))
    assert isinstance(clf, TorchClassifier) and clf.n_classes == 10 and clf.bounds == (0.0, 1.0)
    _same_logits(clf, lambda x: _net()(x).detach().numpy(), X)
    twin = load_model(f"{spec}:build_sklearn")
    assert isinstance(twin, SklearnTwin)
    ready = load_model(f"{spec}:build_wrapped")
    assert ready.bounds == (0.0, 1.0) and ready.input_shape == (64,)


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_torchscript_route(tmp_path, digits):
    X, _ = digits
    net = _net()
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    clf = load_model(str(path), input_shape=(64,))
    assert clf.kind == "torch" and clf.has_gradients and clf.n_classes == 10
    _same_logits(clf, lambda x: net(x).detach().numpy(), X)

    state = tmp_path / "weights.pth"
    torch.save(net.state_dict(), state)
    assert "not a TorchScript archive" in _error(lambda: load_model(str(state), input_shape=(64,)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's legacy exporter needs no onnxscript
def test_onnx_route(tmp_path, digits):
    import onnxruntime  # noqa: F401
    import onnx  # noqa: F401
    X, _ = digits
    net = _net()
    path = tmp_path / "net.onnx"
    torch.onnx.export(net, (torch.zeros(1, 64),), str(path), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
    clf = load_model(str(path))
    assert clf.kind == "onnx" and clf.input_shape == (64,)
    _same_logits(clf, lambda x: net(x).detach().numpy(), X)


@pytest.mark.parametrize("suffix", [".joblib", ".pkl"])
def test_pickle_route_needs_trust(tmp_path, digits, suffix):
    X, y = digits
    est = LogisticRegression(max_iter=300).fit(X, y)
    path = tmp_path / f"model{suffix}"
    if suffix == ".joblib":
        joblib.dump(est, path)
    else:
        path.write_bytes(pickle.dumps(est))
    message = _error(lambda: load_model(str(path)))
    assert message.startswith("refusing to unpickle") and "trust_pickle=True" in message and "--trust-pickle" in message
    clf = load_model(str(path), trust_pickle=True)
    assert isinstance(clf, SklearnTwin)
    _same_logits(clf, est.decision_function, X)

    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    assert "could not unpickle" in _error(lambda: load_model(str(tmp_path / "junk.pkl"), trust_pickle=True))


def test_bad_specs_are_one_line_errors(tmp_path):
    spec = _factory(tmp_path, """
        def build():
            raise ValueError("weights missing")
        value = 3
    """)
    broken = _factory(tmp_path, "def build(:\n", name="broken.py")
    assert _error(lambda: load_model(f"{spec}:build")) == f"model factory {spec}:build raised ValueError: weights missing"
    assert _error(lambda: load_model(f"{spec}:value")) == f"{spec} has no function 'value'"
    assert _error(lambda: load_model(f"{spec}:nothere")) == f"{spec} has no function 'nothere'"
    assert _error(lambda: load_model(f"{broken}:build")).startswith(f"importing {broken} failed: SyntaxError")
    assert "names no factory" in _error(lambda: load_model(spec))
    assert "model file not found" in _error(lambda: load_model(str(tmp_path / "gone.py") + ":build"))
    assert "model file not found" in _error(lambda: load_model(str(tmp_path / "gone.onnx")))
    assert "unsupported model spec" in _error(lambda: load_model(str(tmp_path / "model.h5")))
    assert "bad model spec" in _error(lambda: load_model(f"{spec}:not a name"))
    assert "empty model spec" in _error(lambda: load_model("  "))
