"""The statistics demo section runs on the bundled digits and renders."""

from __future__ import annotations

from mathguard.demo.context import DemoContext
from mathguard.demo.evaluation import demo_section


def test_demo_section_quick():
    rep = demo_section(DemoContext(quick=True))
    titles = [s.title for s in rep.sections]
    assert titles[0].startswith("Paired comparison") and "Calibration" in titles[1] and "Bias" in titles[2]
    cal = rep.sections[1]
    assert cal.metrics["temperature_fitted_on_validation"] > 0 and len(cal.figures) == 2
    assert rep.sections[2].figures and "p_value" in rep.sections[0].metrics
    assert "Reliability" in rep.to_html()
