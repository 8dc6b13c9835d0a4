"""Pitfall checks: probabilities as logits, training mode, random forward passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

import mathguard as mg
from mathguard.errors import InputError
from mathguard.models.diagnose import (
    model_report,
    nondeterminism_finding,
    output_findings,
    probability_output_finding,
    training_mode_finding,
)


def _trained_mlp(digits, tail: list[nn.Module] = ()) -> nn.Module:
    X, y = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(X).float(), torch.from_numpy(y)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    return nn.Sequential(*net, *tail).eval()


def _ids(findings) -> list[str]:
    return [f.id for f in findings]


def test_softmax_ending_net_is_flagged_logits_net_is_not(digits):
    X, _ = digits
    logits_clf = mg.wrap(_trained_mlp(digits), input_shape=(64,))
    prob_clf = mg.wrap(_trained_mlp(digits, [nn.Softmax(dim=1)]), input_shape=(64,))
    logsm_clf = mg.wrap(_trained_mlp(digits, [nn.LogSoftmax(dim=1)]), input_shape=(64,))
    assert output_findings(logits_clf, X) == []
    assert output_findings(logsm_clf, X) == []  # log-probabilities are valid logits (shift-invariant)
    found = output_findings(prob_clf, X)
    assert _ids(found) == ["model.outputs-probabilities"]
    f = found[0]
    assert f.severity == mg.Severity.HIGH and f.lens == "model"
    assert f.evidence["rows"] == 256 and f.evidence["probability_rows_fraction"] == 1.0
    with torch.no_grad():
        top = prob_clf.logits(torch.from_numpy(X[:256]).float()).max(dim=1).values
    assert f.evidence["max_row_sum_error"] < 1e-5
    assert f.evidence["saturated_rows_fraction"] == pytest.approx(float((top > 0.99).double().mean()))
    # The masking it warns about is real: the input gradient of cross-entropy collapses.
    x = torch.from_numpy(X[:64]).float().requires_grad_(True)
    y = torch.from_numpy(digits[1][:64])
    grads = []
    for clf in (logits_clf, prob_clf):
        g, = torch.autograd.grad(nn.functional.cross_entropy(clf.logits(x), y), x)
        grads.append(float(g.norm()))
    assert grads[1] < grads[0] / 2


def test_dropout_in_training_mode_is_flagged_twice(digits):
    X, _ = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
    clf = mg.wrap(net.train(), input_shape=(64,))
    found = output_findings(clf, X[:100])
    assert _ids(found) == ["model.training-mode", "model.nondeterministic"]
    assert found[0].evidence["layers"] == ["2"]
    assert found[1].evidence["max_abs_difference"] > 1e-3
    net.eval()
    assert output_findings(clf, X[:100]) == []


def test_batchnorm_in_training_mode_is_flagged_and_left_untouched(digits):
    X, _ = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10)).train()
    bn = net[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    clf = mg.wrap(net, input_shape=(64,))
    assert _ids(output_findings(clf, X[:100])) == ["model.training-mode"]  # batch stats: random-free
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2]


def test_random_callable_is_nondeterministic_but_stable_one_is_not(digits):
    X, _ = digits
    est = LogisticRegression(max_iter=300).fit(*digits)
    rng = np.random.default_rng(0)

    def noisy(x):
        p = est.predict_proba(x) + rng.uniform(0, 0.2, (len(x), 10))
        return p / p.sum(axis=1, keepdims=True)

    noisy_clf = mg.wrap(noisy, input_shape=(64,), n_classes=10)
    f = nondeterminism_finding(noisy_clf, X[:50])
    assert f is not None and f.id == "model.nondeterministic" and f.evidence["rows"] == 50
    assert training_mode_finding(noisy_clf) is None  # no module to inspect
    stable = mg.wrap(est.predict_proba, input_shape=(64,), n_classes=10)
    assert output_findings(stable, X[:50]) == []  # black-box logits are log-probabilities, not probabilities
    assert output_findings(mg.wrap(est), X[:50]) == []


def test_checks_reject_empty_or_misshapen_input(digits):
    clf = mg.wrap(_trained_mlp(digits), input_shape=(64,))
    with pytest.raises(InputError, match="at least one input"):
        output_findings(clf, np.zeros((0, 64)))
    with pytest.raises(InputError, match="expected"):
        probability_output_finding(clf, np.zeros((3, 5)))


def test_model_report_describes_the_protocol(digits):
    X, _ = digits
    clf = mg.wrap(_trained_mlp(digits, [nn.Softmax(dim=1)]), input_shape=(64,), bounds=(0, 1))
    report = model_report(clf, X)
    assert report.metrics == {"kind": "torch", "n_classes": 10, "input_shape": [64], "bounds": [0.0, 1.0],
                              "has_gradients": True}
    assert report.worst == mg.Severity.HIGH
