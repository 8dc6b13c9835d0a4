"""Every model answer is validated: shape (N, C), finite, one row per input (issue #11)."""

import numpy as np
import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.errors import InputError, ModelError


class _Const(nn.Module):
    """Returns a fixed tensor whatever the batch: a broken model in a controlled way."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out + 0 * self.lin(x).sum()


@pytest.mark.parametrize("out, cause", [
    (torch.full((5, 3), float("nan")), "NaN or Inf"),
    (torch.zeros(1, 3), "shape"),         # (1, K) for N inputs
    (torch.zeros(5, 4), "shape"),         # wrong class count
    (torch.zeros(5), "shape"),            # not 2-D
])
def test_torch_outputs_are_validated(out, cause):
    clf = mg.wrap(_Const(out), input_shape=(4,), n_classes=3)
    with pytest.raises(ModelError, match=cause):
        clf.logits(torch.zeros(5, 4))


def test_a_failing_forward_is_a_model_error():
    clf = mg.wrap(nn.Linear(4, 3), input_shape=(4,))
    with pytest.raises(ModelError, match="failed on a batch of shape"):
        clf.logits(torch.zeros(5, 7))


def test_logits_accept_numpy_and_float64_and_keep_the_input_device():
    net = nn.Linear(4, 3)
    clf = mg.wrap(net, input_shape=(4,))
    x = np.random.default_rng(0).normal(size=(5, 4))
    expected = net(torch.as_tensor(x, dtype=torch.float32))
    assert torch.allclose(clf.logits(x), expected)
    assert torch.allclose(clf.logits(torch.as_tensor(x)), expected)  # float64 input, float32 weights
    assert clf.logits(x).device.type == "cpu"


def test_inputs_follow_the_weights_device():
    """The meta device stands in for a GPU: the input must be moved to it before the forward."""
    seen = {}

    class Probe(nn.Linear):
        def forward(self, x):
            seen["device"] = x.device
            return super().forward(x)

    net = Probe(4, 3).to("meta")
    clf = mg.wrap(net, input_shape=(4,), n_classes=3)
    with pytest.raises((ModelError, NotImplementedError, RuntimeError)):
        clf.logits(torch.zeros(2, 4))  # isfinite on meta tensors cannot be decided
    assert seen["device"].type == "meta"


@pytest.mark.parametrize("kwargs", [
    {"bounds": (0, 1, 2)}, {"bounds": (0, float("inf"))}, {"bounds": (1, 0)}, {"bounds": "ab"},
    {"mean": 0.0, "std": float("nan")}, {"mean": float("nan"), "std": 1.0}, {"mean": 0.0, "std": 0.0},
    {"input_shape": (-1, 8, 8)}, {"input_shape": ()},
])
def test_wrap_rejects_bad_options(kwargs):
    opts = {"input_shape": (4,), **kwargs}
    with pytest.raises(ModelError):
        mg.wrap(nn.Linear(4, 3), **opts)


def test_callable_rejects_bad_options():
    with pytest.raises(ModelError):
        mg.wrap(lambda x: np.full((len(x), 2), 0.5), input_shape=(4,), bounds=(0, 1, 2))
    with pytest.raises(ModelError):
        mg.wrap(lambda x: np.full((len(x), 2), 0.5), input_shape=(4,), mean=0.0, std=float("nan"))


def test_string_and_complex_inputs_are_input_errors():
    clf = mg.wrap(nn.Linear(4, 3), input_shape=(4,))
    with pytest.raises(InputError):
        clf.as_input(np.array([["a"] * 4]))
    with pytest.raises(InputError):
        clf.as_input(np.ones((2, 4), dtype=complex))
    with pytest.raises(InputError):
        clf.as_labels(np.array(["a", "b"]), 2)


def test_output_findings_on_a_nan_model_name_the_nans_not_nondeterminism():
    from mathguard.models.diagnose import output_findings

    clf = mg.wrap(_Const(torch.full((5, 3), float("nan"))), input_shape=(4,), n_classes=3)
    with pytest.raises(ModelError, match="NaN"):
        output_findings(clf, torch.zeros(5, 4))
