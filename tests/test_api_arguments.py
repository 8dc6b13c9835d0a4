"""Public entry points refuse bad arguments with a MathguardError (issue #11), and accept a scalar eps."""

import numpy as np
import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.errors import MathguardError


def _nan_net() -> nn.Module:
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.fill_(float("nan"))
    return net


PROFILE = mg.drift.profile(np.random.default_rng(0).random((50, 2)))

CASES = {
    "inspect of NaN weights": lambda: mg.training.inspect(_nan_net()),
    "Monitor of a string": lambda: mg.training.Monitor("x"),
    "Profile + 3": lambda: PROFILE + 3,
    "entropy of text": lambda: mg.info.entropy(["a"]),
    "profile(sample_size=-1)": lambda: mg.drift.profile(np.zeros((5, 2)), sample_size=-1),
    "profile(chunk_size=0.5)": lambda: mg.drift.profile(np.zeros((5, 2)), chunk_size=0.5),
    "NaN eps": lambda: mg.robustness.evaluate_robustness(mg.wrap(nn.Linear(4, 3), input_shape=(4,)),
                                                         np.zeros((2, 4)), [0, 1], eps=float("nan")),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_arguments_are_mathguard_errors(case):
    with pytest.raises(MathguardError):
        CASES[case]()


def test_evaluate_robustness_takes_one_eps():
    torch.manual_seed(0)
    clf = mg.wrap(nn.Linear(4, 3).eval(), input_shape=(4,), bounds=(0.0, 1.0))
    x = np.random.default_rng(0).random((6, 4)).astype(np.float32)
    rep = mg.robustness.evaluate_robustness(clf, x, clf.predict(x).numpy(), eps=0.1, steps=2, checks=False)
    assert list(rep.metrics["robust_accuracy"]) == [0.1]
