"""The information demo section builds on bundled data and finds what was planted."""

from mathguard.demo.context import DemoContext
from mathguard.demo.info import demo_section


def test_info_demo_section():
    rep = demo_section(DemoContext(quick=True))
    relevance, redundancy, active = rep.sections
    flagged = {f.evidence["feature"] for f in relevance.findings if f.id == "info.uninformative-feature"}
    assert {"noise A", "noise B"} <= flagged
    assert relevance.metrics["best_split"]["gain_bits"] > 0.4
    groups = [sorted(f.evidence["features"]) for f in redundancy.findings]
    assert ["mean area", "mean perimeter", "mean radius"] in groups
    assert active.metrics["strategy_accuracy"][-1] >= active.metrics["random_accuracy"][-1] - 0.01
    assert "Learning curves" in rep.to_html()
