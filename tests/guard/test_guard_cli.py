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
