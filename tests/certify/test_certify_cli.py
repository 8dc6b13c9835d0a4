"""`mathguard certify` end to end: exit codes, outputs, and one-line errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mathguard.cli import main

FACTORY = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    net = nn.Linear(4, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
        net.bias.zero_()
    return net
"""


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "model.py").write_text(FACTORY)
    x = np.zeros((6, 4), dtype=np.float32)
    x[:3, 0], x[3:, 0] = 1.0, -1.0  # distance 1 from the boundary x0 = 0
    y = np.array([0, 0, 0, 1, 1, 1])
    np.savez(tmp_path / "data.npz", x=x, y=y)
    return tmp_path


def _run(files, *extra):
    return CliRunner().invoke(main, ["certify", "--model", f"{files / 'model.py'}:build", "--data",
                                     str(files / "data.npz"), "--n", "2000", "--n0", "50", *extra])


def test_certify_writes_reports_and_gates(files):
    out = files / "c.json"
    res = _run(files, "--json", str(out), "--html", str(files / "c.html"), "--fail-on", "medium")
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())["report"]
    acc = rep["metrics"]["certified_accuracy"]
    assert acc["0.0"] == 1.0 and acc["0.25"] == 1.0  # true distance 1, σ = 0.25
    assert (files / "c.html").read_text().startswith("<!DOCTYPE html>")
    # σ = 50 drowns the signal (p_A = Φ(1/50) ≈ 0.51): abstentions are a MEDIUM finding, so the gate fails
    assert _run(files, "--sigma", "50", "--fail-on", "medium").exit_code == 1


@pytest.mark.parametrize("args, message", [
    (["--model", "nope.py:build"], "not found"),
    (["--data", "missing.npz"], "no such file"),
    (["--sigma", "-1"], "sigma"),
    (["--bounds", "0,1,2"], "--bounds"),
])
def test_user_mistakes_are_one_line_exit_2(files, args, message):
    base = {"--model": f"{files / 'model.py'}:build", "--data": str(files / "data.npz")}
    argv = ["certify"]
    given = dict(zip(args[::2], args[1::2]))
    for k, v in {**base, **given}.items():
        argv += [k, v]
    argv += ["--n", "100"]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_pickle_needs_explicit_trust(files):
    import pickle

    from sklearn.linear_model import LogisticRegression

    data = np.load(files / "data.npz")
    model = LogisticRegression().fit(data["x"], data["y"])
    (files / "m.pkl").write_bytes(pickle.dumps(model))
    argv = ["certify", "--model", str(files / "m.pkl"), "--data", str(files / "data.npz"), "--n", "200"]
    refused = CliRunner().invoke(main, argv)
    assert refused.exit_code == 2 and "--trust-pickle" in refused.output
    assert CliRunner().invoke(main, argv + ["--trust-pickle", "--fail-on", "never"]).exit_code == 0


def test_a_budget_certifies_as_many_points_as_fit_and_says_so(files, monkeypatch):
    """#24: every long command takes --budget. Pilots of 1 and 2 points each 'take' 1 s on this clock: per point
    0.5 s (the second pilot's mean, as the two are equal), fixed 0.5 s, 2 s spent, so 5 s leave room for 5 points."""
    import mathguard.cli.budget as budget

    clock = iter(range(0, 1000))
    monkeypatch.setattr(budget.time, "perf_counter", lambda: float(next(clock)))
    res = _run(files, "--budget", "5s", "--json", str(files / "b.json"), "--quiet")
    assert res.exit_code == 0, res.output
    rep = json.loads((files / "b.json").read_text())["report"]
    assert rep["metrics"]["samples"] == 5
    cut = next(f for f in rep["findings"] if f["id"] == "adversarial.budget-cut")
    assert cut["evidence"]["used"] == 5 and cut["evidence"]["given"] == 6
    res = _run(files, "--budget", "soon")
    assert res.exit_code == 2 and "not a duration" in res.output
