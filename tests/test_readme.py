"""The README is a contract: every fenced python and bash block in it runs here, as written.

Each block is preceded by a directive comment naming what it runs against:
``<!-- readme-test: digits -->`` / ``tabular`` (python: the names the block uses, built from
bundled data below), ``files`` / ``model-files`` (bash: a folder holding the files the commands
name), or ``skip: <why>`` (few: blocks that describe a machine we are not, such as a Dask
scheduler on another host). A block without a directive fails the test, so a new README
block is wired in on purpose. Bash blocks run line by line in that folder; exit 0 (clean) or
1 (findings at the gate) pass, 2 and 3 fail.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

import mathguard as mg

README = Path(__file__).resolve().parents[1] / "README.md"
DIRECTIVE = re.compile(r"<!--\s*readme-test:\s*(.+?)\s*-->")
BIN = Path(sys.executable).parent


def blocks() -> list[tuple[int, str, str, str]]:
    """(line, language, directive, code) of every python and bash block."""
    lines = README.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        m = re.fullmatch(r"```(python|bash)\s*", lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            d = DIRECTIVE.search(before)
            found.append((i + 1, m.group(1), d.group(1) if d else "", "\n".join(lines[i + 1:j])))
            i = j
        i += 1
    return found


BLOCKS = blocks()


# --------------------------------------------------------------------------------------------- contexts
def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU()),
        head=nn.Linear(32, 10)))


@pytest.fixture(scope="module")
def digits_world(tmp_path_factory) -> dict:
    d = load_digits()
    xs = torch.tensor(d.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    ys = torch.tensor(d.target)
    net = _net()
    mg.defend.train(net, mg.defend.batches(xs[:1000], ys[:1000]),
                    lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb), epochs=5, lr=3e-3)
    clf = mg.wrap(net, input_shape=(1, 8, 8), bounds=(0, 1))
    x, y = xs[1000:1016], ys[1000:1016]
    X = x.reshape(len(x), -1).numpy().astype(np.float64)
    lin = mg.wrap(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        xs[:1000].reshape(1000, -1).numpy(), ys[:1000].numpy()))
    W, b = lin.linear_weights
    energy = mg.detect.Energy(clf).fit(xs[:600]).calibrate(xs[1200:1400], fpr=0.025)
    mahalanobis = mg.detect.Mahalanobis(clf, layer="penultimate").fit(xs[:600], ys[:600])
    mahalanobis.calibrate(xs[1200:1400], fpr=0.025)
    knn = mg.detect.KNN(clf).fit(xs[:600]).calibrate(xs[1200:1400], fpr=0.05)
    work = tmp_path_factory.mktemp("readme-digits")
    (work / "models.py").write_text("from torch import nn\n\ndef build():\n"
                                    "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))\n")
    _onnx(work / "model.onnx", X, y.numpy())
    return dict(
        mg=mg, np=np, torch=torch, nn=nn, net=net, clf=clf, x=x, y=y, X=X, X_sample=X, W=W, b=b,
        torch_net=nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)), make_pipeline=make_pipeline,
        StandardScaler=StandardScaler, LogisticRegression=LogisticRegression,
        RandomForestClassifier=__import__("sklearn.ensemble", fromlist=["RandomForestClassifier"])
        .RandomForestClassifier,
        api_predict_proba=lambda rows: np.full((len(rows), 10), 0.1), margin=1.0, input_shape=(1, 8, 8),
        loader=mg.defend.batches(xs[:200], ys[:200]), m1=_net(1), m2=_net(2), m3=_net(3),
        backbone=nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16)),
        x_train=xs[:600], y_train=ys[:600], x_val=xs[1200:1400], x_test=xs[1400:1500], y_test=ys[1400:1500],
        x_noise=(xs[1400:1500] + 0.3 * torch.randn(100, 1, 8, 8)).clamp(0, 1),
        x_rot=torch.rot90(xs[1400:1500], 1, dims=(2, 3)), x_new=xs[1500:1530], y_new=ys[1500:1530],
        chunks=[(xs[i:i + 200], ys[i:i + 200]) for i in range(0, 600, 200)],
        energy=energy, mahalanobis=mahalanobis, knn=knn, det=energy,
        ref_profile=mg.drift.profile(xs[:600].reshape(600, -1).numpy(), feature_names=[f"x{i}" for i in range(64)]),
        url="http://127.0.0.1:9", key="no-key", model=_net(4), optimizer=None, loss_fn=nn.functional.cross_entropy,
        work=work)


def _onnx(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    est = LogisticRegression(max_iter=300).fit(X.astype(np.float32), y)
    proto = convert_sklearn(est, initial_types=[("x", FloatTensorType([None, X.shape[1]]))],
                            options={id(est): {"zipmap": False}})
    path.write_bytes(proto.SerializeToString())


@pytest.fixture(scope="module")
def tabular_world(tmp_path_factory) -> dict:
    d = load_breast_cancer()
    names = ["age"] + [f"f{i}" for i in range(1, d.data.shape[1])]
    data = (d.data - d.data.mean(0)) / d.data.std(0)  # standardised, so the README's bare LogisticRegression converges
    frame = pd.DataFrame(data, columns=names)
    order = np.random.default_rng(0).permutation(len(frame))
    frame, target = frame.iloc[order].reset_index(drop=True), d.target[order]
    X, y = frame.iloc[:400], target[:400]
    X_test, y_test = frame.iloc[400:], target[400:]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    other = make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(X, y)
    proba = model.predict_proba(X_test)
    work = tmp_path_factory.mktemp("readme-tabular")
    frame.assign(label=target).to_parquet(work / "data.parquet")
    from mathguard.auditor import TEMPLATE

    (work / "mathguard.toml").write_text(TEMPLATE)
    onehot = np.eye(3)[np.random.default_rng(1).integers(0, 3, 120)]
    X_oh = np.c_[np.random.default_rng(2).random((120, 4)), onehot].astype(np.float32)
    oh_model = LogisticRegression(max_iter=300).fit(X_oh, (X_oh[:, 0] > 0.5).astype(int))
    return dict(
        mg=mg, np=np, pd=pd, X=X, y=y, X_train=X, y_train=y, X_tr=X, y_tr=y, X_test=X_test, y_test=y_test,
        X_te=X_test, y_te=y_test, X_prod=X_test, X_pool=X_test.to_numpy(), proba_pool=proba,
        part_a=X.iloc[:200], part_b=X.iloc[200:], model=model, clf=mg.wrap(model),
        x=X["age"].to_numpy(), est_a=LogisticRegression(), est_b=LogisticRegression(C=0.1),
        make_estimator=LogisticRegression, pred_a=other.predict(X),
        pred_b=model.predict(X), baseline=other.predict(X), proba=model.predict_proba(X),
        p1=model.predict(X), p2=other.predict(X), y_val=y_test,
        logits_val=np.log(np.clip(proba, 1e-12, 1)), LogisticRegression=LogisticRegression,
        tab_clf=mg.wrap(oh_model), X_tab=X_oh, y_tab=oh_model.predict(X_oh), mask=np.array([True] * 4 + [False] * 3),
        lo=np.zeros(7), hi=np.ones(7), work=work)


def _python_context(name: str, digits_world: dict, tabular_world: dict) -> dict:
    """A private copy of the world, so no block sees what another block trained or changed."""
    world = {"digits": digits_world, "tabular": tabular_world}[name]
    shared = {k: v for k, v in world.items() if isinstance(v, type(np)) or k == "work"}
    return {**copy.deepcopy({k: v for k, v in world.items() if k not in shared}), **shared}


def _files(world: dict, tmp: Path) -> None:
    """Tables the bash blocks name: predictions, a feature table, a reference and a current batch."""
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet([2, 2, 2], n)
    pd.DataFrame({"y": y, "model_a": proba.argmax(1), "model_b": np.where(rng.random(n) < 0.7, y, proba.argmax(1)),
                  "p0": proba[:, 0], "p1": proba[:, 1], "p2": proba[:, 2]}).to_csv(tmp / "preds.csv", index=False)
    shutil.copy(world["work"] / "data.parquet", tmp / "data.parquet")
    for name, shift in (("train", 0.0), ("current", 0.5)):
        p = rng.dirichlet([2, 2, 2], 500)
        pd.DataFrame({"a": rng.normal(shift, 1, 500), "b": rng.normal(size=500),
                      "city": rng.choice(["x", "y", "z"], 500), "p0": p[:, 0], "p1": p[:, 1],
                      "p2": p[:, 2]}).to_parquet(tmp / f"{name}.parquet")


def _model_files(world: dict, tmp: Path) -> None:
    """A model factory and the digits it was trained on, as tables and as .npz."""
    torch.save(world["net"].state_dict(), tmp / "weights.pt")
    (tmp / "m.py").write_text(
        "from collections import OrderedDict\nfrom pathlib import Path\nimport torch\nfrom torch import nn\n\n"
        "def build():\n"
        "    net = nn.Sequential(OrderedDict(features=nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(),\n"
        "                        nn.Linear(32, 32), nn.ReLU()), head=nn.Linear(32, 10)))\n"
        "    net.load_state_dict(torch.load(Path(__file__).with_name('weights.pt')))\n"
        "    return net.eval()\n")
    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target
    cols = [f"x{i}" for i in range(64)]
    pd.DataFrame(x[:150], columns=cols).assign(label=y[:150]).to_parquet(tmp / "train.parquet")
    pd.DataFrame(x[1200:1300], columns=cols).assign(label=y[1200:1300]).to_parquet(tmp / "test.parquet")
    np.savez(tmp / "tr.npz", x=x[:600], y=y[:600])
    np.savez(tmp / "va.npz", x=x[1200:1400], y=y[1200:1400])
    np.savez(tmp / "te.npz", x=x[1400:1500], y=y[1400:1500])
    np.savez(tmp / "noise.npz", x=np.clip(x[1400:1500] + rng_noise(100), 0, 1).astype(np.float32),
             y=y[1400:1500])
    np.savez(tmp / "batch.npz", x=x[1500:1550], y=y[1500:1550])
    mg.drift.profile(pd.DataFrame(x[:600], columns=cols)).save(tmp / "ref.json")


def rng_noise(n: int) -> np.ndarray:
    return np.random.default_rng(3).normal(0, 0.3, (n, 64))


# --------------------------------------------------------------------------------------------- monitor blocks
@pytest.fixture(scope="module")
def readme_monitor(tmp_path_factory, digits_world, tabular_world):
    """A real `mathguard serve` (as tests/monitor start it) with admin and ingest keys and the 'digits' model
    registered (its reference profile has no predictions: the guard still logs probabilities)."""
    pytest.importorskip("fastapi")
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_monitor_kit", Path(__file__).parent / "monitor" /
                                                  "conftest.py")
    kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kit)  # type: ignore[union-attr]
    db = f"sqlite:///{tmp_path_factory.mktemp('readme-monitor') / 'mathguard.db'}"
    keys = {s: kit.make_key(db, s) for s in ("admin,ingest,read", "ingest", "read")}  # the README's ops key
    keys["admin"] = keys["admin,ingest,read"]
    server = kit.Server(db, "--alert-interval", "1s").start()
    try:
        mg.monitor.Client(server.url, keys["admin"], "digits").register(digits_world["ref_profile"])
        ref = tabular_world["work"].parent / "readme-monitor-ref.json"
        mg.drift.profile(tabular_world["X_train"], tabular_world["model"].predict_proba(tabular_world["X_train"])
                         ).save(ref)
        yield {"url": server.url, "key": keys["ingest"], "ingest_key": keys["ingest"], "admin_key": keys["admin"],
               "read_key": keys["read"], "ref": ref}
    finally:
        server.stop()


def _monitor_files(monitor: dict, tmp: Path) -> dict[str, str]:
    """A reference profile (ref.json, numeric features with probabilities) and the server in the environment."""
    shutil.copy(monitor["ref"], tmp / "ref.json")
    return {"MATHGUARD_URL": monitor["url"], "MATHGUARD_KEY": monitor["admin_key"]}


def _shell_lines(code: str) -> list[str]:
    return [line for line in code.replace("\\\n", " ").splitlines() if line.strip() and
            not line.strip().startswith("#")]


@pytest.mark.parametrize("line,lang,directive,code", BLOCKS, ids=[f"line{b[0]}-{b[1]}" for b in BLOCKS])
def test_readme_block_runs(line, lang, directive, code, digits_world, tabular_world, tmp_path, monkeypatch, request):
    if not directive:
        pytest.fail(f"README.md line {line}: the block has no <!-- readme-test: ... --> directive")
    if directive.startswith("skip:"):
        pytest.skip(f"README.md line {line}: {directive[5:].strip()}")
    extra_env: dict[str, str] = {}
    monitor = None
    if directive.startswith("monitor"):  # monitor-digits / monitor-tabular (python), monitor-files (bash)
        monitor = request.getfixturevalue("readme_monitor")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the client's default spool lands here
        directive = directive.split("-", 1)[1]
        if lang == "bash":
            extra_env = _monitor_files(monitor, tmp_path)
    if lang == "python":
        world = _python_context(directive, digits_world, tabular_world)
        if monitor is not None:
            world.update({k: v for k, v in monitor.items() if k != "ref"},
                         X_batch=world.get("X_test", world.get("X")))
        for f in world["work"].iterdir():
            shutil.copy(f, tmp_path / f.name)
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        if world.get("optimizer", 0) is None:  # a training loop needs an optimizer of its own model
            world["optimizer"] = torch.optim.SGD(world["model"].parameters(), lr=0.01)
        exec(compile(code, f"README.md:{line}", "exec"), world)  # noqa: S102 (our own README)
        return
    builders = {"files": lambda: _files(tabular_world, tmp_path), "model-files": lambda: _model_files(
        digits_world, tmp_path), "files-only": lambda: None}
    builders["files-only" if extra_env else directive]()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(tmp_path), **extra_env}
    for command in _shell_lines(code):
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode in (0, 1), f"README.md line {line}: `{command}` exited {done.returncode}:\n" \
                                          f"{done.stderr[-2000:]}"


def test_every_block_is_wired_and_skips_are_few():
    directives = [d for _, _, d, _ in BLOCKS]
    assert all(directives), "every README block needs a readme-test directive"
    assert sum(d.startswith("skip:") for d in directives) <= 6
