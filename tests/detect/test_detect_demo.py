"""The demo's detector section: shifts and attacks scored, the adaptive attack run on every detector."""

from mathguard.demo.context import DemoContext
from mathguard.demo.detect import demo_section


def test_detector_demo_section():
    rep = demo_section(DemoContext(quick=True))
    m = rep.metrics
    assert len(m["detectors"]) == 7
    assert {"noise σ=0.3", "rotated 90°", "inverted", "fgsm eps=0.1", "pgd eps=0.1"} <= set(m["results"])
    # Feature-space detectors see a quarter-turned digit; the softmax confidence barely does.
    assert m["results"]["rotated 90°"]["mahalanobis"]["auroc"] > 0.9
    assert m["results"]["inverted"]["reconstruction"]["auroc"] > 0.95
    assert len(m["adaptive"]) == 7
    assert all(abs(v - 0.05) < 0.08 for v in m["clean_fpr"].values())
    assert len(rep.figures) == 2
