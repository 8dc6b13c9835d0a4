"""evaluate_robustness: the ensemble's worst case, and each planted evaluation pitfall caught by its check."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import mathguard as mg
from mathguard.errors import InputError


@pytest.fixture(scope="module")
def data(digits_tensors, digits_mlp):
    x, y = digits_tensors
    return digits_mlp(), x[1200:1320], y[1200:1320]


def _ids(report):
    return {f.id for f in report.all_findings() if f.severity >= mg.Severity.MEDIUM}


def _evaluate(net, x, y, **kw):
    return mg.evaluate_robustness(net, x, y, eps=[0.05, 0.1, 0.2], steps=30, input_shape=(64,),
                                  bounds=(0.0, 1.0), **kw)


def test_healthy_model_worst_case_and_no_pitfall(data):
    net, x, y = data
    rep = _evaluate(net, x, y)
    acc = rep.metrics["robust_accuracy"]
    assert rep.metrics["clean_accuracy"] > 0.9
    assert acc[0.05] >= acc[0.1] >= acc[0.2]
    # the ensemble is at least as strong as its strongest member alone
    clf = mg.wrap(net, input_shape=(64,), bounds=(0.0, 1.0))
    pgd = mg.attacks.PGD(steps=30)(clf, x, y, eps=0.1).robust_accuracy[0.1]
    assert acc[0.1] <= pgd + 1e-9
    assert _ids(rep) == set()


class _Round(nn.Module):
    def forward(self, x):
        return torch.round(x * 4) / 4  # input quantisation: gradient exactly zero


class _ZeroGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return torch.zeros_like(g)


class _ZeroGradLayer(nn.Module):
    def forward(self, x):
        return _ZeroGrad.apply(x)


class _Noise(nn.Module):
    def forward(self, x):
        return x + 0.05 * torch.randn_like(x)  # randomised even in eval mode


@pytest.mark.parametrize("wrapper, expected", [
    (lambda net: nn.Sequential(_Round(), net), "adversarial.zero-gradients"),
    (lambda net: nn.Sequential(_ZeroGradLayer(), net), "adversarial.zero-gradients"),
    (lambda net: nn.Sequential(net, nn.Softmax(dim=1)), "model.outputs-probabilities"),
    (lambda net: nn.Sequential(_Noise(), net), "model.nondeterministic"),
])
def test_broken_models_are_flagged_by_the_named_check(data, wrapper, expected):
    net, x, y = data
    rep = _evaluate(wrapper(net).eval(), x, y)
    assert expected in _ids(rep)


def test_gradient_masking_is_also_caught_by_the_unbounded_attack(data):
    net, x, y = data
    rep = _evaluate(nn.Sequential(_ZeroGradLayer(), net), x, y)
    assert "adversarial.unbounded-attack-fails" in _ids(rep)


def test_training_mode_is_flagged(data):
    net, x, y = data
    dropout_net = nn.Sequential(nn.Dropout(0.5), net)
    dropout_net.train()
    assert "model.training-mode" in _ids(_evaluate(dropout_net, x, y))


def test_monotonicity_check_and_few_classes():
    from mathguard.robustness.pitfalls import monotonicity_finding

    assert monotonicity_finding({0.1: 0.5, 0.2: 0.4}) is None
    assert monotonicity_finding({0.1: 0.4, 0.2: 0.5}).id == "adversarial.non-monotone-in-eps"
    torch.manual_seed(0)
    binary = nn.Linear(4, 2)
    x = torch.rand(20, 4)
    rep = mg.evaluate_robustness(binary, x, binary(x).argmax(1), eps=[0.1], steps=10, input_shape=(4,),
                                 bounds=(0.0, 1.0))
    assert "adversarial.too-few-classes-for-dlr" in {f.id for f in rep.findings}


def test_bad_arguments_are_named(data):
    net, x, y = data
    with pytest.raises(InputError, match="norm"):
        mg.evaluate_robustness(net, x, y, norm="l1", input_shape=(64,))
    with pytest.raises(InputError, match="eps"):
        mg.evaluate_robustness(net, x, y, eps=[], input_shape=(64,))
    with pytest.raises(InputError, match="labels"):
        mg.evaluate_robustness(net, x, y[:3], input_shape=(64,))


def test_black_box_models_get_query_attacks_only(data):
    from sklearn.ensemble import RandomForestClassifier

    _, x, y = data
    d = load_digits()
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(d.data[:1200] / 16.0, d.target[:1200])
    rep = mg.evaluate_robustness(forest, x[:40], y[:40], eps=[0.1, 0.3], steps=20, bounds=(0.0, 1.0))
    assert [a["attack"] for a in rep.metrics["attacks"]] == ["Square", "ZO-PGD (NES)"]
    assert "adversarial.black-box-evaluation" in {f.id for f in rep.findings}
    acc = rep.metrics["robust_accuracy"]
    assert acc[0.3] <= acc[0.1] <= rep.metrics["clean_accuracy"]
