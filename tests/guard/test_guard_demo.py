"""The guard's demo section: shifts refused, PGD partly stopped, the adaptive attack shown for what it is."""

from mathguard.demo.context import DemoContext
from mathguard.demo.guard import demo_section


def test_guard_demo_section():
    rep = demo_section(DemoContext(quick=True))
    t = rep.metrics["scenarios"]
    assert t["clean"]["abstention_rate"] < 0.1 and t["clean"]["accepted_accuracy"] > 0.9
    assert t["inverted"]["abstention_rate"] > 0.9
    pgd, adaptive = t["PGD eps=0.1"], t["adaptive eps=0.1"]
    assert pgd["accepted_accuracy"] > pgd["unguarded_accuracy"] + 0.1
    assert adaptive["refused_by_validation"] == 0.0  # the attacker stayed inside the profile's ranges
    assert adaptive["abstention_rate"] < pgd["abstention_rate"]
    assert "adaptive attacker" in rep.summary and len(rep.figures) == 1
