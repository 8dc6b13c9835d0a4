"""The attacks demo section runs on the shared demo context and reports consistent numbers."""

from __future__ import annotations

from torch import nn

from mathguard.demo.attacks import EPS, demo_section
from mathguard.demo.context import DemoContext


def test_demo_section_quick(mlp):
    ctx = DemoContext(quick=True)
    ctx.cnn = nn.Sequential(nn.Flatten(), mlp).eval()  # the session's small model instead of training the demo CNN
    rep = demo_section(ctx)
    ra = rep.metrics["robust_accuracy"]
    assert list(ra) == EPS
    assert all(ra[a] >= ra[b] for a, b in zip(EPS, EPS[1:]))     # worst case is monotone in eps
    for per in rep.metrics["per_attack_robust_accuracy"].values():
        assert all(ra[e] <= per[e] + 1e-6 for e in EPS)           # worst case is no better than any attack
    assert ra[EPS[0]] <= rep.metrics["clean_accuracy"]
    assert rep.sections[0].metrics["max_relative_error"] < 1e-4
    assert rep.figures and any(f.id.startswith("adversarial.") for f in rep.all_findings())
