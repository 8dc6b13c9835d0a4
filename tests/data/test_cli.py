"""`mathguard audit-data`: outputs, exit 0/1 by --fail-on, exit 2 with one line and no traceback."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mathguard.cli import main


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    healthy = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    healthy["label"] = rng.integers(0, 2, len(healthy))
    broken = healthy.copy()
    broken["a_plus_b"] = broken["a"] + broken["b"]
    healthy.to_parquet(tmp_path / "healthy.parquet", row_group_size=50)
    broken.to_parquet(tmp_path / "broken.parquet", row_group_size=50)
    return tmp_path


def _run(*args):
    return CliRunner().invoke(main, ["audit-data", *map(str, args)])


def test_outputs_and_gate(files):
    out_html, out_json = files / "out.html", files / "out.json"
    res = _run(files / "broken.parquet", "--target", "label", "--html", out_html, "--json", out_json,
               "--fail-on", "high")
    assert res.exit_code == 1, res.output
    doc = json.loads(out_json.read_text())
    rep = doc["report"]
    assert doc["schema"] == "mathguard.report/1"
    assert rep["metrics"]["vif"]["a_plus_b"] == "inf"
    assert "label" not in rep["metrics"]["vif"]
    assert "a_plus_b = 1.0·a + 1.0·b" in rep["metrics"]["dependencies"]
    html = out_html.read_text()
    assert "data:image/png;base64," in html and "linalg.exact-dependence" in html
    assert _run(files / "broken.parquet", "--target", "label", "--fail-on", "critical", "-q").exit_code == 0
    assert _run(files / "broken.parquet", "--target", "label", "--fail-on", "never", "-q").exit_code == 0


def test_healthy_file_passes_medium_gate(files):
    res = _run(files / "healthy.parquet", "--target", "label", "--fail-on", "medium")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("args, message", [
    (["healthy.parquet", "--target", "nope"], "target 'nope' is not a column"),
    (["missing.csv"], "no such file"),
    (["healthy.parquet", "--fail-on", "loud"], "Invalid value for '--fail-on'"),
])
def test_bad_input_exits_2_with_one_line(files, args, message):
    args = [str(files / args[0]), *args[1:]]
    res = CliRunner().invoke(main, ["audit-data", *args])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_ragged_csv_exits_2(files):
    (files / "r.csv").write_text("a,b\n1,2\n3,4,5\n")
    res = _run(files / "r.csv")
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "rectangular" in res.output
