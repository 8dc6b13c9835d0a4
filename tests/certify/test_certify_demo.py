from mathguard.demo.certify import demo_section
from mathguard.demo.context import DemoContext


def test_certify_demo_section_shows_bracket_and_smoothing():
    rep = demo_section(DemoContext(quick=True))
    assert rep.section("Bracket of the IBP-trained MLP (L∞)").metrics["certified_accuracy"][0.05] > 0.3
    acc = rep.metrics["smoothing_certified_accuracy"]
    assert acc[0.0] >= acc[0.25] >= acc[0.75]
    assert rep.metrics["smoothing_max_certifiable_radius"] > 0.5
    assert len(rep.figures) == 1 and len(rep.sections[0].figures) == 1
