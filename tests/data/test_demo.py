"""The data lens's demo section runs on the bundled data and shows the planted defects."""

from mathguard.demo.data import demo_section
from mathguard.demo.context import DemoContext


def test_demo_section_finds_planted_defects():
    report = demo_section(DemoContext(quick=True))
    planted = report.sections[-1]
    ids = {f.id for f in planted.findings}
    assert {"linalg.exact-dependence", "linalg.duplicate-columns", "linalg.dummy-variable-trap",
            "linalg.feature-scale"} <= ids
    assert "radius + texture = 1.0·mean radius + 1.0·mean texture" in planted.metrics["dependencies"]
    checks = {f.id for f in planted.sections[-1].findings}
    assert {"data.duplicate-rows", "data.conflicting-labels"} <= checks
    clean = report.sections[0].sections[-1]  # the clean breast-cancer splits: only the informational outlier note
    assert {f.id for f in clean.findings} <= {"data.outlying-rows"} and clean.gate("low") == 0
    digits = report.sections[1]
    assert digits.metrics["constant_columns"]  # corner pixels of the 8×8 digits never light up
    assert report.to_html().count("data:image/png") >= 4
