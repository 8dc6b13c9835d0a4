"""Mode invariance: whatever mode the user left a model (or each ensemble member) in, every entry
point that runs it answers as for the eval-mode model, and the user's modes come back unchanged.

Each case here failed before one eval-mode helper covered every model kind (issue #22): an
ensemble's members kept their train mode in attacks and smoothing, the bracket read its L2 margins
in train mode.
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import mathguard as mg


def _member(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    bn = net[1]
    bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
    return net.eval()


def _data(n: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 6, generator=g)
    with torch.no_grad():
        y = _member(0)(x).argmax(1)
    return x, y


def _modes(nets: list[nn.Module]) -> list[bool]:
    return [m.training for net in nets for m in net.modules()]


def _set(nets: list[nn.Module], train: list[bool]) -> None:
    for net, t in zip(nets, train):
        net.train(t)


MODES = st.lists(st.booleans(), min_size=2, max_size=2)
SETTINGS = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _ensemble(nets: list[nn.Module]) -> mg.defend.Ensemble:
    return mg.defend.Ensemble(nets, input_shape=(6,), bounds=(0, 1))


@given(MODES)
@SETTINGS
def test_attacks_on_an_ensemble_ignore_its_members_modes(train):
    nets = [_member(0), _member(1)]
    x, y = _data()
    expected = mg.attacks.PGD(norm="linf", steps=10)(_ensemble(nets), x, y, eps=0.2)
    _set(nets, train)
    before = _modes(nets)
    got = mg.attacks.PGD(norm="linf", steps=10)(_ensemble(nets), x, y, eps=0.2)
    assert _modes(nets) == before
    torch.testing.assert_close(got.adversarial, expected.adversarial, rtol=0, atol=0)
    assert torch.equal(got.success, expected.success)


@given(MODES)
@SETTINGS
def test_smoothing_of_an_ensemble_ignores_its_members_modes(train):
    nets = [_member(0), _member(1)]
    x, _ = _data(4)
    kw = dict(sigma=0.25, n0=20, n=200, random_state=0)
    expected = mg.certify.smoothing(_ensemble(nets), x, **kw)
    _set(nets, train)
    got = mg.certify.smoothing(_ensemble(nets), x, **kw)
    np.testing.assert_array_equal(got.radius, expected.radius)
    np.testing.assert_array_equal(got.predictions, expected.predictions)


@given(st.booleans())
@SETTINGS
def test_bracket_reads_margins_of_the_eval_mode_network(train):
    net = _member(0)
    x, y = _data()
    kw = dict(norm="l2", eps=[0.01, 0.05], attack=mg.attacks.PGD(norm="l2", steps=10))
    expected = mg.robustness_bracket(net, x, y, input_shape=(6,), bounds=(0, 1), **kw).metrics
    net.train(train)
    got = mg.robustness_bracket(net, x, y, input_shape=(6,), bounds=(0, 1), **kw).metrics
    assert net.training == train
    for key in ("clean_accuracy", "certified_accuracy", "empirical_robust_accuracy"):
        assert got[key] == expected[key]


@given(st.booleans())
@SETTINGS
def test_evaluate_robustness_figures_ignore_the_mode(train):
    net = _member(0)
    x, y = _data()
    kw = dict(input_shape=(6,), bounds=(0, 1), eps=[0.05, 0.2], steps=10)
    expected = mg.evaluate_robustness(net, x, y, **kw).metrics
    net.train(train)
    rep = mg.evaluate_robustness(net, x, y, **kw)
    assert net.training == train
    for key in ("clean_accuracy", "robust_accuracy"):
        assert rep.metrics[key] == expected[key]
    for e in (0.05, 0.2):
        np.testing.assert_array_equal(rep.metrics["robust_points"][e], expected["robust_points"][e])
    ids = [f.id for f in rep.findings]
    assert ("model.training-mode" in ids) == train  # the mode is still reported, once
    assert "model.nondeterministic" not in ids  # dropout left on is not the model's own randomness


@given(MODES)
@SETTINGS
def test_detectors_on_an_ensemble_ignore_its_members_modes(train):
    nets = [_member(0), _member(1)]
    x, _ = _data(40)
    expected = mg.detect.DeepEnsemble(_ensemble(nets)).fit(x[:20]).score(x[20:])
    _set(nets, train)
    got = mg.detect.DeepEnsemble(_ensemble(nets)).fit(x[:20]).score(x[20:])
    np.testing.assert_array_equal(got, expected)


@given(st.booleans())
@SETTINGS
def test_mc_dropout_scores_ignore_the_mode(train):
    net = _member(0)
    clf = mg.wrap(net, input_shape=(6,))
    x, _ = _data(40)
    expected = mg.detect.MCDropout(clf, samples=5).fit(x[:20]).score(x[20:])
    net.train(train)
    got = mg.detect.MCDropout(clf, samples=5).fit(x[:20]).score(x[20:])
    assert net.training == train
    np.testing.assert_array_equal(got, expected)


def test_training_mode_finding_sees_ensemble_members():
    nets = [_member(0), _member(1).train()]
    found = mg.models.training_mode_finding(_ensemble(nets))
    assert found is not None and found.id == "model.training-mode"
    assert all(name.startswith("member1.") for name in found.evidence["layers"])
    assert mg.models.training_mode_finding(_ensemble([_member(0), _member(1)])) is None


@pytest.mark.parametrize("entry", ["universal", "ibp", "lipschitz"])
def test_other_entry_points_restore_modes_and_ignore_them(entry):
    net = _member(0)
    clf = mg.wrap(net, input_shape=(6,), bounds=(0, 1))
    x, y = _data()

    def run():
        if entry == "universal":
            return mg.attacks.universal_perturbation(clf, x, y, eps=0.2, steps=5).delta.numpy()
        if entry == "ibp":
            return mg.certify.ibp(clf, x, y, eps=0.05).margin_lower.detach().numpy()
        return np.array(mg.certify.lipschitz(clf).bound)

    expected = run()
    net.train()
    got = run()
    assert net.training and all(m.training for m in net.modules())
    np.testing.assert_array_equal(got, expected)


def test_the_audit_gives_the_same_figures_in_train_or_eval_mode():
    net = _member(0)
    x, y = _data(60)
    clf = mg.wrap(net, input_shape=(6,), bounds=(0, 1))
    kw = dict(train=(x, y), test=(x, y), budget=0, points=20, steps=10, certified_points=20,
              lenses=("stats", "info", "adversarial", "certified"))

    def figures(rep):
        return {s.title: {k: v for k, v in s.metrics.items() if k != "budget"} for s in rep.sections}

    expected = figures(mg.audit(clf, **kw))
    net.train()
    got = figures(mg.audit(clf, **kw))
    assert net.training
    assert repr(got) == repr(expected)


def test_the_audit_budget_probe_runs_a_train_mode_model():
    """Before: the probe ran one row through BatchNorm left in train mode, and the audit failed."""
    net = _member(0).train()
    x, y = _data(60)
    clf = mg.wrap(net, input_shape=(6,), bounds=(0, 1))
    rep = mg.audit(clf, train=(x, y), test=(x, y), budget=300, points=20, steps=10, lenses=("stats", "adversarial"))
    assert rep.metrics["scorecard"]["adversarial"]["status"] in ("pass", "fail")
    assert net.training
