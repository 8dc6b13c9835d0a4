"""`mathguard profile` and `mathguard drift`: files in, exit codes out, one line on bad input."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mathguard.cli import main


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def files(tmp_path, frame):
    paths = {}
    for name, df in {"ref": frame(3000, 0), "same": frame(3000, 1), "swapped": frame(3000, 2, swap=True)}.items():
        p = np.random.default_rng(len(name)).dirichlet([2, 2], size=len(df))
        df = df.assign(p0=p[:, 0], p1=p[:, 1])
        paths[name] = tmp_path / f"{name}.parquet"
        df.to_parquet(paths[name], index=False)
    return paths


def test_profile_then_drift_gates_on_severity(files, tmp_path):
    ref_json = tmp_path / "ref.json"
    out = _run("profile", files["ref"], "--json", ref_json, "--proba", "p0,p1")
    assert out.exit_code == 0, out.output
    assert "profiled 3000 rows: 5 numeric, 1 categorical features, with predictions" in out.output
    assert json.loads(ref_json.read_text())["schema"] == "mathguard.profile/1"

    quiet = _run("drift", ref_json, files["same"], "--proba", "p0,p1", "-q", "--json", tmp_path / "same.json")
    assert quiet.exit_code == 0, quiet.output
    assert json.loads((tmp_path / "same.json").read_text())["report"]["metrics"]["verdict"] == "no drift"

    html = tmp_path / "drift.html"
    loud = _run("drift", ref_json, files["swapped"], "--proba", "p0,p1", "--html", html, "--fail-on", "high")
    assert loud.exit_code == 1
    assert "Drift per feature" in html.read_text()
    assert _run("drift", ref_json, files["swapped"], "--fail-on", "never", "-q").exit_code == 0
    # a data file works as the reference too, and a lower --psi-major leaves the verdict major
    assert _run("drift", files["ref"], files["swapped"], "-q", "--no-multivariate").exit_code == 1


@pytest.mark.parametrize("args, message", [
    (["drift", "missing.json", "x.parquet"], "no such file"),
    (["drift", "{bad}", "{cur}"], "not valid JSON"),
    (["profile", "{cur}", "--json", "{out}", "--proba", "nope"], "proba columns ['nope']"),
    (["drift", "{ref}", "{cur}", "--psi-moderate", "0.5", "--psi-major", "0.2"], "psi_moderate"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(files, tmp_path, args, message):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    fill = {"{bad}": bad, "{cur}": files["same"], "{ref}": files["ref"], "{out}": tmp_path / "out.json"}
    html = tmp_path / "never.html"
    result = _run(*[fill.get(a, a) for a in args], "--html", html) if args[0] == "drift" else \
        _run(*[fill.get(a, a) for a in args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not html.exists() and not (tmp_path / "out.json").exists()
