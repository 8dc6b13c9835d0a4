import json

import numpy as np
import pytest

from mathguard.errors import MathguardError
from mathguard.report import Figure, Finding, Report, Severity, new_axes


def _line():
    fig, ax = new_axes()
    ax.plot([0, 1], [1, 0])
    return fig


def _report() -> Report:
    r = Report(title="root", metrics={"vif": {"a": 1.5, "b": float("inf")}, "rank": np.int64(3)})
    r.add(Finding(id="linalg.low", lens="linalg", severity="low", title="small thing"))
    child = r.add_section(Report(title="child"))
    child.add(Finding(id="stats.high", lens="stats", severity=Severity.HIGH, title="big thing",
                      detail="why", evidence={"p": np.float64(0.01)}, fix="do this"))
    child.figures.append(Figure.later(_line, "line", "a line"))
    return r


def test_worst_and_gate_look_into_sections():
    r = _report()
    assert r.worst is Severity.HIGH
    assert r.gate("high") == 1 and r.gate("critical") == 0
    assert [f.id for f in r.at_or_above("medium")] == ["stats.high"]
    assert Report(title="empty").worst is None


def test_json_is_strict_and_versioned(tmp_path):
    path = tmp_path / "r.json"
    _report().to_json(path)
    doc = json.loads(path.read_text())  # strict: no Infinity tokens
    assert doc["schema"] == "mathguard.report/1"
    rep = doc["report"]
    assert rep["metrics"]["vif"]["b"] == "inf"
    assert rep["metrics"]["rank"] == 3
    assert rep["worst"] == "high"
    assert rep["sections"][0]["findings"][0]["evidence"]["p"] == 0.01


def test_html_is_self_contained(tmp_path):
    html = _report().to_html(tmp_path / "r.html")
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "big thing" in html and "do this" in html


def test_severity_parse_and_errors():
    assert Severity.parse("Medium") is Severity.MEDIUM
    with pytest.raises(MathguardError, match="unknown severity"):
        Severity.parse("urgent")
    with pytest.raises(ValueError, match="unknown lens"):
        Finding(id="a", lens="astrology", severity="low", title="t")
    with pytest.raises(ValueError, match="must start with its lens"):  # #26: an id names its lens
        Finding(id="detect.fpr-not-met", lens="adversarial", severity="low", title="t")
    assert Finding.of("linalg", "exact-dependence", "high", "t").id == "linalg.exact-dependence"


def test_every_lens_is_one_registry():
    """#26: the finding lenses, the audit's lens names and the scorecard titles come from one registry."""
    from mathguard.auditor import LENSES as AUDIT_LENSES
    from mathguard.auditor.lenses import LENS_FUNCS
    from mathguard.report import LENSES
    from mathguard.report.lenses import REGISTRY, TITLES

    assert set(AUDIT_LENSES) == set(LENS_FUNCS) == {lens.name for lens in REGISTRY if lens.audited}
    assert set(AUDIT_LENSES) <= set(LENSES) and set(TITLES) == set(LENSES)


def test_terminal_render_runs(capsys):
    from rich.console import Console

    console = Console(record=True, width=120)
    _report().show(console)
    text = console.export_text()
    assert "big thing" in text and "worst severity: high" in text


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    import os

    from mathguard.report import write_atomic

    target = tmp_path / "out.json"
    target.write_text("old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_written_reports_get_ordinary_permissions(tmp_path):
    import os

    path = tmp_path / "r.html"
    _report().to_html(path)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_html_ids_are_unique_tables_link_sections_and_long_maps_are_tables():
    import re

    from mathguard.report import Finding, Report, Table

    root = Report("audit")
    for _ in range(2):
        sec = root.add_section(Report("Same title"))
        sec.add(Finding(id="model.repeated", lens="model", severity="low", title="t"))
        sec.metrics["grid"] = {"clean": {"auroc": 0.9, "tpr": 0.5}, "noise": {"auroc": 0.7, "tpr": 0.2}}
        sec.metrics["vif"] = {f"f{i}": float(i) for i in range(30)}
    root.tables.append(Table("Scorecard", ("lens", "status"), (("a", "pass"), ("b", "fail")),
                             links=("Same title", None)))
    html = root.to_html()
    ids = re.findall(r'id="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert '<a href="#sec-same-title">a</a>' in html
    assert "f29" in html and "…" not in html  # 30 VIFs: every one shown, in a table
    assert html.count("<th>auroc</th>") == 2
    assert root.to_dict()["tables"][0]["rows"] == [["a", "pass"], ["b", "fail"]]
