"""`mathguard audit` end to end on a scikit-learn pickle, a torch factory and an ONNX model, each with a planted defect."""

import json
import pickle
import time
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mathguard.cli import main


def _tables(tmp, X, y, name, duplicate=False):
    cols = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=cols)
    if duplicate:
        frame["f0_copy"] = frame["f0"]  # the planted defect: a duplicated feature column
    frame["label"] = y
    half = len(frame) // 2
    frame.iloc[:half].to_parquet(tmp / f"{name}_train.parquet")
    frame.iloc[half:].to_parquet(tmp / f"{name}_test.parquet")
    return frame.drop(columns="label").to_numpy()[:half], y[:half]


def _audit(tmp, model, name, *extra):
    return CliRunner().invoke(main, ["audit", "--model", str(model), "--train", str(tmp / f"{name}_train.parquet"),
                                     "--test", str(tmp / f"{name}_test.parquet"), "--target", "label",
                                     "--quiet", *extra])


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    X, y = make_classification(n_samples=800, n_features=6, n_informative=4, n_redundant=0, random_state=0)
    for name, dup in (("clean", False), ("dup", True)):
        Xtr, ytr = _tables(tmp, X, y, name, duplicate=dup)
        est = make_pipeline(StandardScaler(), LogisticRegression()).fit(Xtr, ytr)
        (tmp / f"{name}.pkl").write_bytes(pickle.dumps(est))
    return tmp


def test_a_clean_tabular_model_passes_the_gate_and_every_lens_is_accounted_for(tabular):
    out = tabular / "clean_out"
    res = _audit(tabular, tabular / "clean.pkl", "clean", "--trust-pickle", "--out", str(out), "--junit",
                 str(tabular / "clean.xml"), "--fail-on", "high", "--budget", "60s")
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())["report"]
    card = rep["metrics"]["scorecard"]
    assert list(card) == ["data", "model", "stats", "info", "adversarial", "certified", "detectors"]
    # Tabular eps defaults to per-feature sd units: 0.1 sd does not break a clean logistic regression.
    assert card["adversarial"]["status"] == "pass" and "eps=0.1 sd" in card["adversarial"]["key"]
    assert "robust ≥ 0.5 × clean" in card["adversarial"]["rule"]
    assert card["stats"]["key"].startswith("accuracy 0.")
    html = (out / "report.html").read_text()
    assert html.index("Scorecard") < html.index("<h2")  # the scorecard opens the report
    suite = ET.parse(tabular / "clean.xml").getroot()
    assert suite.get("tests") == "7" and suite.get("failures") == "0"


def test_a_duplicated_column_is_named_and_gates(tabular):
    out = tabular / "dup_out"
    res = _audit(tabular, tabular / "dup.pkl", "dup", "--trust-pickle", "--out", str(out), "--fail-on", "high",
                 "--budget", "60s")
    assert res.exit_code == 1, res.output
    rep = json.loads((out / "report.json").read_text())["report"]
    assert rep["metrics"]["scorecard"]["data"]["status"] == "fail"
    ids = {f["id"] for s in rep["sections"] for f in s["findings"]}
    assert "linalg.duplicate-columns" in ids


def test_a_pickle_needs_the_opt_in(tabular):
    res = _audit(tabular, tabular / "clean.pkl", "clean")
    assert res.exit_code == 2 and "--trust-pickle" in res.output


SOFTMAX_NET = """
import torch
from torch import nn


def build():
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10), nn.Softmax(dim=1))
    state = torch.load(__file__.replace("softmax_net.py", "weights.pt"))
    net.load_state_dict({k: v for k, v in state.items()})
    return net.eval()
"""


def test_softmax_inside_the_network_is_named_and_gates(tmp_path, digits_tensors):
    import torch
    from torch import nn

    import mathguard as mg

    x, y = digits_tensors
    torch.manual_seed(0)
    body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    mg.defend.train(body, mg.defend.batches(x[:1000], y[:1000]),
                    lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb), epochs=5, lr=3e-3)
    torch.save(body.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "softmax_net.py").write_text(SOFTMAX_NET)
    imgs = x.numpy().reshape(-1, 1, 8, 8)
    np.savez(tmp_path / "tr.npz", x=imgs[:1000], y=y.numpy()[:1000])
    np.savez(tmp_path / "te.npz", x=imgs[1000:1300], y=y.numpy()[1000:1300])
    (tmp_path / "mathguard.toml").write_text('[audit]\nlenses = ["model", "stats"]\n')
    res = CliRunner().invoke(main, ["audit", "--model", f"{tmp_path / 'softmax_net.py'}:build", "--bounds", "0,1",
                                    "--train", str(tmp_path / "tr.npz"), "--test", str(tmp_path / "te.npz"),
                                    "--config", str(tmp_path / "mathguard.toml"), "--out", str(tmp_path / "o"),
                                    "--quiet"])
    assert res.exit_code == 1, res.output
    rep = json.loads((tmp_path / "o" / "report.json").read_text())["report"]
    model = rep["sections"][0]
    assert "model.outputs-probabilities" in [f["id"] for f in model["findings"]]
    assert list(rep["metrics"]["scorecard"]) == ["model", "stats"]


def test_a_shifted_test_split_of_an_onnx_model_is_named_and_gates(tmp_path):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    X, y = make_classification(n_samples=800, n_features=5, n_informative=3, n_redundant=0, random_state=1)
    X = X.astype(np.float32)
    est = LogisticRegression().fit(X[:400], y[:400])
    proto = convert_sklearn(est, initial_types=[("x", FloatTensorType([None, 5]))],
                            options={id(est): {"zipmap": False}})
    (tmp_path / "m.onnx").write_bytes(proto.SerializeToString())
    np.savez(tmp_path / "tr.npz", x=X[:400], y=y[:400])
    shifted = X[400:].copy()
    shifted[:, :2] += 1.5  # the planted defect: a test split that is not drawn like the training data
    np.savez(tmp_path / "te.npz", x=shifted, y=y[400:])
    (tmp_path / "mathguard.toml").write_text('[audit]\nlenses = ["model", "info"]\n')
    res = CliRunner().invoke(main, ["audit", "--model", str(tmp_path / "m.onnx"), "--train", str(tmp_path / "tr.npz"),
                                    "--test", str(tmp_path / "te.npz"), "--config", str(tmp_path / "mathguard.toml"),
                                    "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 1, res.output
    rep = json.loads((tmp_path / "o" / "report.json").read_text())["report"]
    assert rep["metrics"]["scorecard"]["info"]["key"].startswith("test vs train: major drift")


def test_the_budget_is_kept_on_an_image_model(tmp_path, digits_tensors):
    import torch
    from torch import nn

    import mathguard as mg

    x, y = digits_tensors
    imgs = x.reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10))
    mg.defend.train(net, mg.defend.batches(imgs[:1000], y[:1000]),
                    lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb), epochs=5, lr=3e-3)
    clf = mg.wrap(net.eval(), input_shape=(1, 8, 8), bounds=(0.0, 1.0))
    budget = 25.0
    t0 = time.perf_counter()
    rep = mg.audit(clf, train=(imgs[:1000], y[:1000]), test=(imgs[1000:], y[1000:]), budget=budget)
    used = time.perf_counter() - t0
    assert used <= 1.1 * budget + 5  # +5 s: the start-up the budget cannot see (the probe itself)
    card = rep.metrics["scorecard"]
    assert card["data"]["status"] == "n/a" and card["adversarial"]["status"] in ("pass", "fail", "skipped")
    assert rep.metrics["budget"]["points"].get("adversarial", 20) >= 20


def test_a_broken_model_never_passes_and_junit_names_the_findings(tabular):
    """Raw-unit eps far beyond the features' spread: robust accuracy 0 % must fail both attack lenses (#24)."""
    (tabular / "raw.toml").write_text('[audit]\nlenses = ["adversarial", "certified"]\n'
                                      '[adversarial]\neps = [5.0]\neps_unit = "raw"\n')
    out = tabular / "raw_out"
    res = _audit(tabular, tabular / "clean.pkl", "clean", "--trust-pickle", "--out", str(out), "--config",
                 str(tabular / "raw.toml"), "--junit", str(tabular / "raw.xml"), "--budget", "60s")
    assert res.exit_code == 1, res.output
    card = json.loads((out / "report.json").read_text())["report"]["metrics"]["scorecard"]
    assert card["adversarial"]["status"] == "fail" and card["certified"]["status"] == "fail"
    assert "(raw units)" in card["adversarial"]["key"]
    suite = ET.parse(tabular / "raw.xml").getroot()
    messages = [f.get("message") for f in suite.iter("failure")]
    assert len(messages) == 2 and all("adversarial.below-floor" in m for m in messages)


def test_the_data_lens_sees_the_data_at_full_precision(tabular):
    """The audit's data lens and audit-data give the same numbers on the same file (no float32 copy)."""
    import mathguard as mg

    frame = pd.read_parquet(tabular / "dup_train.parquet").drop(columns="label")
    frame["big"] = frame["f1"] * 1e3 + 1e6 + frame["f2"] * 1e-3  # a column float32 would round
    X, y = frame.to_numpy(), np.arange(len(frame)) % 2
    clf = mg.wrap(LogisticRegression().fit(X, y))
    direct = mg.audit_data(X).metrics
    rep = mg.audit(clf, train=(X, y), test=(X, y), lenses=("data",), budget=None)
    got = rep.sections[0].metrics
    assert got["condition_number"] == direct["condition_number"]
    assert got["vif"] == direct["vif"]
