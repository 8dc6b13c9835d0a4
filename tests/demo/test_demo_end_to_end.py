"""`mathguard demo --quick` end to end: every registered lens appears in one report, files are complete."""

import json
from html import escape

from click.testing import CliRunner

from mathguard.cli import main
from mathguard.demo import SECTIONS


def test_demo_writes_one_report_with_every_section(tmp_path):
    out = tmp_path / "report"
    res = CliRunner().invoke(main, ["demo", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "report.json").read_text())
    assert doc["schema"] == "mathguard.report/1"
    sections = doc["report"]["sections"]
    assert len(sections) == len(SECTIONS)
    assert all(s["findings"] or s["metrics"] or s["sections"] for s in sections)
    html = (out / "report.html").read_text()
    for s in sections:
        assert escape(s["title"]) in html
    assert html.count("data:image/png;base64,") >= len(SECTIONS)
    assert "report written to" in res.output
    table = doc["report"]["tables"][0]
    assert table["title"] == "Scorecard" and [r[0] for r in table["rows"]] == [s["title"] for s in sections]
    assert html.index("Scorecard") < html.index("<h2")  # the scorecard opens the report
