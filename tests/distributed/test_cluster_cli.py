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


def test_robustness_on_a_cluster_gives_the_single_process_outcomes(tmp_path, mlp_files, digits_tensors):
    model, data = _files(tmp_path, mlp_files, digits_tensors)
    docs = {}
    for name, extra in (("local", []), ("cluster", ["--workers", "2"])):
        res = CliRunner().invoke(main, ["robustness", "--model", model, "--data", data, "--bounds", "0,1", "--eps",
                                        "0.05,0.1", "--steps", "5", "--no-checks", "--json",
                                        str(tmp_path / f"{name}.json"), "--fail-on", "never", *extra])
        assert res.exit_code == 0, res.output
        docs[name] = json.loads((tmp_path / f"{name}.json").read_text())["report"]["metrics"]
    m = docs["cluster"]
    assert set(m["robust_accuracy"]) == {"0.05", "0.1"} and m["n"] == 40
    for key in ("robust_accuracy", "robust_points", "broken_by"):
        assert m[key] == docs["local"][key]


def test_audit_shards_its_adversarial_lens_over_a_cluster(tmp_path, mlp_files, digits_tensors):
    x, y = digits_tensors
    np.savez(tmp_path / "tr.npz", x=x[:300].numpy(), y=y[:300].numpy())
    np.savez(tmp_path / "te.npz", x=x[1400:1440].numpy(), y=y[1400:1440].numpy())
    (tmp_path / "mathguard.toml").write_text('[audit]\nlenses = ["adversarial"]\nbudget = "0"\n'
                                             '[adversarial]\neps = [0.05]\npoints = 40\nsteps = 5\n')
    cards = {}
    for name, extra in (("local", []), ("cluster", ["--workers", "2"])):
        res = CliRunner().invoke(main, ["audit", "--model", f"{mlp_files / 'model.py'}:build", "--bounds", "0,1",
                                        "--train", str(tmp_path / "tr.npz"), "--test", str(tmp_path / "te.npz"),
                                        "--config", str(tmp_path / "mathguard.toml"), "--out", str(tmp_path / name),
                                        "--fail-on", "never", "--quiet", *extra])
        assert res.exit_code == 0, res.output
        rep = json.loads((tmp_path / name / "report.json").read_text())["report"]
        cards[name] = rep["metrics"]["scorecard"]["adversarial"]
    assert cards["local"]["status"] == "pass" and "robust accuracy" in cards["local"]["key"]
    assert cards["cluster"]["key"] == cards["local"]["key"]
