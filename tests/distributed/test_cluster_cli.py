"""--workers on certify and robustness: the same command, sharded over a local Dask cluster."""

import json

import numpy as np
from click.testing import CliRunner

from mathguard.cli import main


def _files(tmp_path, mlp_files, digits_tensors):
    x, y = digits_tensors
    np.savez(tmp_path / "d.npz", x=x[1400:1440].numpy(), y=y[1400:1440].numpy())
    return [f"{mlp_files / 'model.py'}:build", str(tmp_path / "d.npz")]


def test_certify_on_two_workers_gives_the_same_certificates(tmp_path, mlp_files, digits_tensors):
    model, data = _files(tmp_path, mlp_files, digits_tensors)
    docs = {}
    for name, extra in (("local", []), ("cluster", ["--workers", "2"])):
        res = CliRunner().invoke(main, ["certify", "--model", model, "--data", data, "--sigma", "0.25", "--n0", "20",
                                        "--n", "500", "--json", str(tmp_path / f"{name}.json"), "--fail-on", "never",
                                        *extra])
        assert res.exit_code == 0, res.output
        docs[name] = json.loads((tmp_path / f"{name}.json").read_text())["report"]["metrics"]
    assert docs["cluster"]["certified_accuracy"] == docs["local"]["certified_accuracy"]
    assert docs["cluster"]["median_radius"] == docs["local"]["median_radius"]


def test_robustness_runs_on_a_cluster(tmp_path, mlp_files, digits_tensors):
    model, data = _files(tmp_path, mlp_files, digits_tensors)
    res = CliRunner().invoke(main, ["robustness", "--model", model, "--data", data, "--bounds", "0,1", "--eps",
                                    "0.05,0.1", "--steps", "5", "--no-checks", "--workers", "1", "--json",
                                    str(tmp_path / "r.json"), "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "r.json").read_text())["report"]["metrics"]
    assert set(m["robust_accuracy"]) == {"0.05", "0.1"} and m["n"] == 40
