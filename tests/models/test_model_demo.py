"""The model-protocol demo section runs on the quick demo context and finds exactly the planted pitfalls."""

from __future__ import annotations

from mathguard.demo.context import DemoContext
from mathguard.demo.models import demo_section


def test_demo_section_quick():
    report = demo_section(DemoContext(quick=True))
    twins, clean, planted = report.sections
    assert twins.metrics["logreg_twin_max_abs_error"] < 1e-6
    assert twins.metrics["mlp_twin_max_abs_proba_error"] < 1e-6
    assert twins.metrics["forest_max_abs_proba_error"] < 1e-9
    assert twins.metrics["models"]["random forest"]["has_gradients"] is False
    assert clean.findings == []
    assert sorted(f.id for f in planted.findings) == [
        "model.nondeterministic", "model.outputs-probabilities", "model.training-mode"]
    assert planted.metrics["max_top_probability_after_double_softmax"] <= 2.718281828 / (2.718281828 + 9) + 1e-9
    assert len(planted.figures) == 1
