"""`mathguard guard` end to end: decisions CSV, report, refusals."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

import mathguard as mg
from mathguard.cli import main


@pytest.fixture(scope="module")
def files(mlp_files, digits_tensors):
    x, y = digits_tensors
    batch = x[1400:1500].numpy().copy()
    batch[0, 3] = np.nan
    batch[1] = np.random.default_rng(0).random(64)
    np.savez(mlp_files / "batch.npz", x=batch, y=y[1400:1500].numpy())
    mg.drift.profile(x[:1000].numpy()).save(mlp_files / "ref.json")
    return mlp_files


def _run(files, *extra):
    return CliRunner().invoke(main, ["guard", "--model", f"{files / 'model.py'}:build", "--bounds", "0,1",
                                     "--data", str(files / "batch.npz"), *extra])


def test_guard_writes_decisions_and_the_report(files):
    res = _run(files, "--profile", str(files / "ref.json"), "--detectors", "energy,mahalanobis",
               "--train", str(files / "train.npz"), "--val", str(files / "val.npz"), "--fpr", "0.01",
               "--decisions", str(files / "d.csv"), "--json", str(files / "g.json"), "--fail-on", "never")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((files / "d.csv").open()))
    assert len(rows) == 100
    assert rows[0]["label"] == "-1" and rows[0]["layer"] == "validation" and "= NaN" in rows[0]["reasons"]
    assert rows[1]["label"] == "-1"
    rep = json.loads((files / "g.json").read_text())["report"]
    assert rep["metrics"]["rows"] == 100 and rep["metrics"]["accepted_accuracy"] > 0.8


@pytest.mark.parametrize("extra, message", [
    (["--detectors", "energy"], "need --train"),
    (["--decisions", "BATCH"], "is also an input"),
    (["--decisions", "D.CSV", "--json", "D.CSV"], "both name"),
    (["--profile", "missing.json"], "missing.json"),
])
def test_refusals_are_one_line(files, extra, message):
    extra = [str(files / "batch.npz") if e == "BATCH" else str(files / "d2.csv") if e == "D.CSV" else e
             for e in extra]
    res = _run(files, *extra)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_one_row_too_large_for_float32_abstains_alone(files, tmp_path):
    # before: 1e39 became inf in float32 and all 100 rows abstained with "model failed"
    batch = np.load(files / "batch.npz")["x"].astype(np.float64)
    batch[0, 3] = 0.5
    batch[1] = batch[2]
    batch[5, 7] = 1e39
    np.savez(tmp_path / "big.npz", x=batch)
    res = CliRunner().invoke(main, ["guard", "--model", f"{files / 'model.py'}:build", "--data",
                                    str(tmp_path / "big.npz"), "--decisions", str(tmp_path / "d.csv"),
                                    "--fail-on", "low", "--quiet"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((tmp_path / "d.csv").open()))
    assert [r["row"] for r in rows if r["label"] == "-1"] == ["5"]
    assert rows[5]["layer"] == "validation" and "does not fit the model's input type float32" in rows[5]["reasons"]


FAILING = """
import torch
from torch import nn


class Failing(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):  # answers zeros (the wrapper's probe), NaN on any real row
        out = self.fc(x)
        return torch.where(x.abs().sum(1, keepdim=True) > 0, torch.full_like(out, float("nan")), out)


def build():
    return Failing().eval()
"""


@pytest.mark.parametrize("gate", ["low", "high"])
def test_a_model_failing_on_every_row_fails_the_gate(files, tmp_path, gate):
    # before: 100 % abstention, no finding, exit 0 even with --fail-on low
    (tmp_path / "failing.py").write_text(FAILING)
    res = CliRunner().invoke(main, ["guard", "--model", f"{tmp_path / 'failing.py'}:build", "--data",
                                    str(files / "batch.npz"), "--json", str(tmp_path / "g.json"), "--fail-on", gate])
    assert res.exit_code == 1, res.output
    rep = json.loads((tmp_path / "g.json").read_text())["report"]
    (finding,) = [f for f in rep["findings"] if f["id"] == "monitor.model-failed"]
    assert finding["severity"] == "high" and rep["metrics"]["model_failed"] == 99  # row 0 (NaN) never reached it



def test_decisions_carry_probabilities_scores_and_the_report_counts_reasons(files):
    """#25: decisions.csv has the probabilities and each detector's score and p-value; the report groups reasons."""
    res = _run(files, "--profile", str(files / "ref.json"), "--detectors", "energy",
               "--train", str(files / "train.npz"), "--val", str(files / "val.npz"), "--fpr", "0.05",
               "--decisions", str(files / "d2.csv"), "--json", str(files / "g2.json"), "--fail-on", "never")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((files / "d2.csv").open()))
    header = list(rows[0])
    assert header[5:] == ["confidence", *(f"p{j}" for j in range(10)), "energy_score", "energy_p_value"]
    answered = [r for r in rows if r["label"] != "-1"]
    assert answered and all(abs(sum(float(r[f"p{j}"]) for j in range(10)) - 1) < 1e-4 for r in answered)
    assert rows[0]["p0"] == "" and rows[0]["energy_score"] == ""  # refused by validation: nothing scored it
    reasons = json.loads((files / "g2.json").read_text())["report"]["metrics"]["refusals_by_reason"]
    assert sum(r["rows"] for r in reasons) >= 2 and all("#" in r["reason"] or "NaN" in r["reason"]
                                                        for r in reasons if r["layer"] == "detector")
