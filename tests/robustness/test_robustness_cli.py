"""`mathguard robustness` end to end: gate by severity, bracket section, one-line errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mathguard.cli import main

FACTORY = """
import torch
from torch import nn


class Round(nn.Module):
    def forward(self, x):
        return torch.round(x * 3) / 3


def build(masked=False):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    return nn.Sequential(Round(), net) if masked else net


def build_masked():
    return build(masked=True)
"""


@pytest.fixture()
def files(tmp_path):
    import torch

    (tmp_path / "model.py").write_text(FACTORY)
    ns: dict = {}
    exec(FACTORY, ns)
    x = np.random.default_rng(0).random((40, 6)).astype(np.float32)
    with torch.no_grad():
        y = ns["build"]()(torch.tensor(x)).argmax(1).numpy()  # labels = the model's own predictions
    np.savez(tmp_path / "data.npz", x=x, y=y)
    return tmp_path


def _run(files, factory="build", *extra):
    return CliRunner().invoke(main, ["robustness", "--model", f"{files / 'model.py'}:{factory}", "--data",
                                     str(files / "data.npz"), "--bounds", "0,1", "--eps", "0.05,0.1",
                                     "--steps", "10", *extra])


def test_healthy_model_passes_the_gate_and_writes_the_bracket(files):
    out = files / "r.json"
    res = _run(files, "build", "--bracket", "--json", str(out), "--fail-on", "high")
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())["report"]
    assert rep["metrics"]["clean_accuracy"] == 1.0
    assert set(rep["metrics"]["robust_accuracy"]) == {"0.05", "0.1"}
    assert rep["sections"][0]["title"].startswith("Robustness bracket")


def test_masked_model_fails_the_gate(files):
    res = _run(files, "build_masked", "--fail-on", "high")
    assert res.exit_code == 1, res.output
    assert "adversarial.zero-gradients" in res.output


@pytest.mark.parametrize("extra, message", [
    (["--eps", "a,b"], "--eps"),
    (["--max-samples", "0"], "--max-samples"),
])
def test_mistakes_are_one_line_exit_2(files, extra, message):
    res = _run(files, "build", *extra)
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output


def test_budget_attacks_as_many_points_as_fit_and_says_so(files, monkeypatch):
    """#24: --budget on robustness. The pilot arithmetic is tested in tests/cli/test_budget.py; here the wiring."""
    import mathguard.cli.budget as cli

    seen = []

    def plan(seconds, run, total, pilot=1):
        seen.append((seconds, total, pilot))
        assert run(pilot).metrics["n"] == pilot  # a pilot is a real run on the first points
        return 7

    monkeypatch.setattr(cli, "points_within", plan)
    out = files / "b.json"
    res = _run(files, "build", "--budget", "2m", "--json", str(out), "--fail-on", "never", "-q")
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())["report"]
    assert seen == [(120.0, 40, 4)] and rep["metrics"]["n"] == 7
    cut = next(f for f in rep["findings"] if f["id"] == "adversarial.budget-cut")
    assert cut["evidence"] == {"used": 7, "given": 40, "budget_s": 120.0} and "7 of 40 points" in cut["title"]
    assert _run(files, "build", "--budget", "soon").exit_code == 2


def test_a_generous_budget_cuts_nothing(files):
    out = files / "g.json"
    res = _run(files, "build", "--budget", "1h", "--json", str(out), "--fail-on", "never", "-q")
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())["report"]
    assert rep["metrics"]["n"] == 40 and not any(f["id"].endswith("budget-cut") for f in rep["findings"])
