from mathguard.demo.context import DemoContext
from mathguard.demo.robustness import demo_section


def test_demo_flags_the_planted_masked_defense_and_not_the_cnn():
    rep = demo_section(DemoContext(quick=True))
    healthy, planted = rep.sections
    assert not [f for f in healthy.all_findings() if f.severity >= 2]
    assert {"adversarial.zero-gradients", "adversarial.unbounded-attack-fails",
            "adversarial.blackbox-beats-whitebox"} <= {f.id for f in planted.findings}
    # even with Square in the ensemble the masked model *looks* more robust: why the checks exist
    assert planted.metrics["robust_accuracy"][0.1] > healthy.metrics["robust_accuracy"][0.1] + 0.1
