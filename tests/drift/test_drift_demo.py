"""The drift demo section: quiet on the clean batch, loud and specific on the degraded one."""

from mathguard.demo.context import DemoContext
from mathguard.demo.drift import demo_section


def test_drift_demo_section():
    rep = demo_section(DemoContext(quick=True))
    clean, worn = rep.sections
    assert clean.metrics["verdict"] == "no drift" and not clean.findings
    assert worn.metrics["verdict"] == "major drift"
    ids = {f.id for f in worn.findings}
    assert {"info.feature-drift", "info.entropy-shift", "info.multivariate-drift"} <= ids
    assert worn.metrics["domain_auc"] > 0.9
    # 60 drifted pixels: the 25 worst get a finding each, the rest one summary finding
    per_feature = [f for f in worn.findings if f.id == "info.feature-drift"]
    assert len(worn.metrics["drifted_features"]) > 25 and len(per_feature) == 26
    assert per_feature[-1].title.startswith(f"{len(worn.metrics['drifted_features']) - 25} more features drifted")
    assert "Drift per feature" in rep.to_html()
