"""--workers: audit-data and profile run their partitions on a local Dask cluster and answer as one process does."""

import json

import dask.distributed  # noqa: F401  (installed by `make test`; missing, the run fails instead of skipping)

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import mathguard as mg
from mathguard.cli import main


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(6000, 4)) + [0, 1e6, 0, 0], columns=list("abcd"))
    frame["label"] = (frame["a"] > 0).astype(int)
    frame.to_parquet(tmp / "data.parquet", row_group_size=1500)
    return tmp


def test_audit_data_on_two_workers_equals_one_process(table):
    out = {}
    for name, extra in (("local", []), ("cluster", ["--workers", "2"])):
        res = CliRunner().invoke(main, ["audit-data", str(table / "data.parquet"), "--target", "label", "--quiet",
                                        "--json", str(table / f"{name}.json"), "--fail-on", "never", *extra])
        assert res.exit_code == 0, res.output
        out[name] = json.loads((table / f"{name}.json").read_text())["report"]["metrics"]
    for key in ("condition_number_standardized", "rank"):
        assert out["cluster"][key] == pytest.approx(out["local"][key], rel=1e-10)
    assert list(out["cluster"]["vif"]) == list(out["local"]["vif"])


def test_profile_on_workers_equals_one_process(table):
    for name, extra in (("local", []), ("cluster", ["--workers", "1"])):
        res = CliRunner().invoke(main, ["profile", str(table / "data.parquet"), "--json", str(table / f"{name}.prof.json"),
                                        *extra])
        assert res.exit_code == 0, res.output
    a = mg.drift.Profile.load(table / "local.prof.json")
    b = mg.drift.Profile.load(table / "cluster.prof.json")
    assert a == b


def test_drift_on_workers_equals_one_process(table):
    rng = np.random.default_rng(1)
    shifted = pd.DataFrame(rng.normal(size=(3000, 4)) + [1.0, 1e6, 0, 0], columns=list("abcd"))
    shifted["label"] = (shifted["a"] > 0).astype(int)
    shifted.to_parquet(table / "current.parquet", row_group_size=1000)
    docs = {}
    for name, extra in (("local", []), ("cluster", ["--workers", "2"])):
        res = CliRunner().invoke(main, ["drift", str(table / "data.parquet"), str(table / "current.parquet"),
                                        "--no-multivariate", "--quiet", "--json", str(table / f"{name}.drift.json"),
                                        *extra])
        assert res.exit_code == 1, res.output  # feature a moved by one standard deviation
        docs[name] = json.loads((table / f"{name}.drift.json").read_text())["report"]
    assert docs["cluster"]["metrics"] == docs["local"]["metrics"]
    assert [f["id"] for f in docs["cluster"]["findings"]] == [f["id"] for f in docs["local"]["findings"]]
    assert "drift" in json.dumps(docs["local"]["findings"])


def test_both_cluster_options_is_a_usage_error(table):
    res = CliRunner().invoke(main, ["audit-data", str(table / "data.parquet"), "--workers", "2", "--scheduler",
                                    "tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and "not both" in res.output
