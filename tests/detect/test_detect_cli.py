"""`mathguard detect` end to end: report written, gate, one-line errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mathguard.cli import main


@pytest.fixture(scope="module")
def files(mlp_files, digits_tensors):
    x, y = digits_tensors
    np.savez(mlp_files / "test.npz", x=x[1400:].numpy(), y=y[1400:].numpy())
    np.savez(mlp_files / "noise.npz", x=np.random.default_rng(0).random((200, 64)).astype(np.float32))
    return mlp_files


def _run(files, *extra):
    return CliRunner().invoke(main, ["detect", "--model", f"{files / 'model.py'}:build", "--bounds", "0,1",
                                     "--train", str(files / "train.npz"), "--val", str(files / "val.npz"),
                                     "--test", str(files / "test.npz"), *extra])


def test_detect_writes_the_report_and_gates(files):
    out = files / "d.json"
    res = _run(files, "--ood", str(files / "noise.npz"), "--detectors", "energy,mahalanobis", "--layer", "input",
               "--attacks", "pgd:0.1", "--fpr", "0.05", "--json", str(out), "--html", str(files / "d.html"),
               "--fail-on", "never")
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())["report"]
    assert rep["metrics"]["detectors"] == ["energy", "mahalanobis"]
    assert rep["metrics"]["results"]["noise"]["mahalanobis"]["auroc"] > 0.95
    assert "pgd eps=0.1" in rep["metrics"]["results"]
    assert "energy eps=0.1" in rep["metrics"]["adaptive"]
    assert (files / "d.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("extra, message", [
    (["--detectors", "magic"], "unknown detector 'magic'"),
    (["--fpr", "0.001"], "calibration inputs"),
    (["--layer", "features.9", "--detectors", "knn"], "no layer 'features.9'"),
    (["--attacks", "pgd"], "name:eps"),
])
def test_bad_options_are_one_line_errors(files, extra, message):
    res = _run(files, *extra)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_budget_measures_as_many_test_points_as_fit_and_says_so(files, monkeypatch):
    """#24: --budget on detect cuts the test points (the attacked ones); the detectors still fit on all of train."""
    import mathguard.cli.budget as cli

    seen = []

    def plan(seconds, run, total, pilot=1):
        seen.append((seconds, total, pilot))
        run(pilot)
        return 60

    monkeypatch.setattr(cli, "points_within", plan)
    out = files / "b.json"
    res = _run(files, "--detectors", "energy", "--attacks", "pgd:0.1", "--no-adaptive", "--budget", "90s",
               "--json", str(out), "--fail-on", "never", "-q")
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())["report"]
    n_test = len(np.load(files / "test.npz")["y"])
    assert seen == [(90.0, n_test, 8)]
    cut = next(f for f in rep["findings"] if f["id"] == "adversarial.budget-cut")
    assert cut["evidence"] == {"used": 60, "given": n_test, "budget_s": 90.0}
