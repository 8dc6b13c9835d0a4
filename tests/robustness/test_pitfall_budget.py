"""The budgeted pitfall checks (#28) give the findings of the full ones: same counts, same evidence.

The noise check now draws its random points first and attacks only the inputs noise fooled
(a point's outcome does not depend on its batch), instead of re-attacking every checked input.
"""

from __future__ import annotations

import torch
from torch import nn

import mathguard as mg
from mathguard.robustness import pitfalls
from mathguard.robustness.evaluate import _ensemble, _noise_check


class _Round(nn.Module):
    def forward(self, x):
        return torch.round(x * 4) / 4  # input quantisation: gradient exactly zero, so APGD stalls at its start


def _masked(digits_tensors, digits_mlp):
    x, y = digits_tensors
    net = nn.Sequential(_Round(), digits_mlp())
    clf = mg.wrap(net, input_shape=(64,), bounds=(0.0, 1.0))
    xs, ys = x[1200:1264], y[1200:1264]
    keep = clf.predict(xs) == ys
    return clf, xs[keep], ys[keep]


def test_noise_check_attacks_only_what_noise_fooled_and_finds_the_same(digits_tensors, digits_mlp):
    clf, x, y = _masked(digits_tensors, digits_mlp)
    attacks = [mg.attacks.APGD(steps=5)]
    eps = 0.15
    with mg.models.torch_model.eval_mode(clf):
        # The check as it was: the whole subset attacked (ids = positions), then compared with noise.
        robust, _ = _ensemble(clf, x, y, torch.arange(len(x)), torch.ones(len(x), dtype=torch.bool), attacks, eps)
        fooled = pitfalls.noise_fooled(clf, x, y, eps, "linf")
        full = pitfalls.noise_finding(robust, fooled, eps)
        budgeted = _noise_check(clf, x, y, attacks, eps, "linf")
    assert 0 < int(fooled.sum()) < len(x)  # the budget matters: only some inputs are re-attacked
    assert full is not None, "the planted masking should make noise beat the stalled attack"
    assert budgeted is not None
    assert (budgeted.id, budgeted.title, budgeted.evidence) == (full.id, full.title, full.evidence)


def test_evaluate_robustness_reports_noise_finding_on_masked_model(digits_tensors, digits_mlp):
    clf, x, y = _masked(digits_tensors, digits_mlp)
    rep = mg.evaluate_robustness(clf, x, y, eps=0.15, attacks=[mg.attacks.APGD(steps=5)], check_samples=64)
    found = [f for f in rep.findings if f.id == "adversarial.noise-beats-attack"]
    assert len(found) == 1 and found[0].evidence["count"] > 0
