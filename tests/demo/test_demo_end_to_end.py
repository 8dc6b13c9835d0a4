"""`mathguard demo --quick` end to end: every registered lens appears in one report, files are complete."""

import json
from html import escape

import pytest
from click.testing import CliRunner

from mathguard.cli import main
from mathguard.demo import SECTIONS


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    return out, CliRunner().invoke(main, ["demo", "--quick", "--out", str(out)])


def test_demo_writes_one_report_with_every_section(demo_run):
    out, res = demo_run
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
    adversary = next(s for s in sections if s["title"].startswith("Adversary: universal"))
    ecoc = adversary["metrics"]["ecoc"]  # #27: the ECOC defense, claimed and adaptive side by side
    assert 0 <= ecoc["adaptive"] <= ecoc["clean"] and 0 <= ecoc["claimed"] <= ecoc["clean"] and ecoc["clean"] > 0.8
    assert any(f["id"] == "adversarial.ecoc-claimed-vs-adaptive" for f in adversary["findings"])


def test_the_demo_report_reads_in_a_browser(demo_run):
    """#25: within a 1280 px viewport, every metric key reachable once its section is opened."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("browser", Path(__file__).parents[1] / "report" /
                                                  "test_report_browser.py")
    browser = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(browser)
    out, res = demo_run
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "report.json").read_text())["report"]

    def keys(rep):
        yield from browser.leaf_keys(rep["metrics"])
        for s in rep["sections"]:
            yield from keys(s)

    card = doc["tables"][0]
    failing = [r for r in card["rows"] if r[1] == "fail"]
    assert all(": " in r[3] for r in failing)  # a failing row names the finding that decided it
    browser.check_in_browser(out / "report.html", set(keys(doc)) - {"scorecard"})
