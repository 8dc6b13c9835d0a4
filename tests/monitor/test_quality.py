"""Issue #24 (the client and service faces) and #27 (quality and linear algebra per window), against the real server."""

from __future__ import annotations

import time
import uuid

import httpx
import numpy as np
import pandas as pd
import pytest

import mathguard as mg
from mathguard.errors import InputError
from mathguard.monitor import Client


def _wait_folded(server, key: str, model: str, events: int, kit) -> None:  # noqa: ANN001
    deadline = time.time() + 60
    while time.time() < deadline:
        s = httpx.get(f"{server.url}/v1/models/{model}/stats", headers=kit.auth(key)).json()
        if s["profiled_events"] >= events and s["pending_events"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"not folded in time: {s}")


def _latest(client: Client) -> dict:
    windows = client.drift(window="1h")["windows"]
    assert windows, "no window"
    return windows[-1]


def test_log_takes_frames_noncontiguous_float32_and_ints(served, kit, model, tmp_path) -> None:  # noqa: ANN001
    server, keys = served
    rng = np.random.default_rng(5)
    x, p = rng.normal(size=(40, kit.N_FEATURES)), rng.dirichlet(np.ones(kit.N_CLASSES), size=40)
    frame = pd.DataFrame(x[:10], columns=[f"x{i}" for i in range(kit.N_FEATURES)])
    fortran = np.asfortranarray(x[10:20])  # what df.values of a Parquet read often is
    assert not fortran.flags.c_contiguous
    strided = x[20:30, ::-1]  # a view with negative strides
    with Client(server.url, keys["ingest"], model, spool_dir=tmp_path) as client:
        client.log(frame, pd.DataFrame(p[:10]), labels=pd.Series(p[:10].argmax(axis=1)))
        client.log(fortran, np.asfortranarray(p[10:20]))
        client.log(strided, p[20:30])
        client.log(x[30:40].astype(np.float32), p[30:40].astype(np.float32), labels=np.arange(10) % 3)
        client.log(np.arange(kit.N_FEATURES * 2).reshape(2, kit.N_FEATURES), p[:2])  # ints
        assert client.flush() == 0
        with pytest.raises(InputError, match="features must hold numbers"):
            client.log(frame.assign(x0="text"), p[:10])
        with pytest.raises(InputError, match="proba has 3 rows but features has 10"):
            client.log(frame, p[:3])
    _wait_folded(server, keys["read"], model, 42, kit)
    stats = httpx.get(f"{server.url}/v1/models/{model}/stats", headers=kit.auth(keys["read"])).json()
    assert stats["events"] == 42 and not (tmp_path / "rejected").exists()


def test_register_alert_and_list_through_the_client(served, kit, tmp_path) -> None:  # noqa: ANN001
    server, keys = served
    name = "c-" + uuid.uuid4().hex[:8]
    admin = Client(server.url, keys["admin"], name, spool_dir=tmp_path)
    answer = admin.register(kit.reference()[2])
    assert answer["name"] == name and answer["n_features"] == kit.N_FEATURES
    with pytest.raises(InputError, match="409.*already registered"):
        admin.register(kit.reference()[2])
    rule = admin.add_alert("drifty", metric="psi_max", op=">", threshold=0.25, window="1h", for_="0s",
                           webhooks=["https://hooks.example.com/mg"])
    assert rule["state"] == "ok" and rule["webhooks"] == ["https://hooks.example.com/mg"]
    with pytest.raises(InputError, match="422.*unknown metric"):
        admin.add_alert("bad", metric="nonsense", threshold=1)
    reader = Client(server.url, keys["read"], name, spool_dir=tmp_path)
    assert [r["name"] for r in reader.alerts()] == ["drifty"]
    assert reader.alerts()[0]["webhooks"] == ["https://hooks.example.com/***"]
    with pytest.raises(InputError, match="403"):
        reader.add_alert("nope", metric="events", threshold=1)
    assert name in [m["name"] for m in reader.models()]
    admin.delete_alert("drifty")
    assert reader.alerts() == []
    admin.close()
    reader.close()
    assert not any(tmp_path.iterdir())  # nothing was logged, nothing spooled


def test_proba_for_a_model_registered_without_predictions(served, kit, tmp_path) -> None:  # noqa: ANN001
    server, keys = served
    rng = np.random.default_rng(6)
    name = "np-" + uuid.uuid4().hex[:8]
    with Client(server.url, keys["admin"], name, spool_dir=tmp_path) as admin:
        answer = admin.register(mg.drift.profile(rng.normal(size=(2000, kit.N_FEATURES))))
    assert answer["n_classes"] is None and answer["prediction_drift"].startswith("n/a")
    x, p = rng.normal(size=(300, kit.N_FEATURES)), rng.dirichlet(np.ones(4), size=300)
    y = np.where(rng.random(300) < 0.6, p.argmax(axis=1), rng.integers(0, 4, 300))
    with Client(server.url, keys["ingest"], name, spool_dir=tmp_path) as client:
        client.log(x, p, labels=y)
        assert client.flush() == 0
    _wait_folded(server, keys["read"], name, 300, kit)
    with Client(server.url, keys["read"], name, spool_dir=tmp_path) as reader:
        w = _latest(reader)
    assert w["prediction_psi"] is None and w["prediction_drift"].startswith("n/a: the reference profile has no")
    entropy = mg.info.entropy(p, base=2)
    assert w["entropy_mean"] == pytest.approx(float(np.mean(entropy)), rel=1e-9)
    assert w["accuracy"] == pytest.approx(float(np.mean(p.argmax(axis=1) == y)))
    assert w["labeled"] == 300 and len(w["quality"]["per_class"]) == 4


def test_per_class_quality_equals_scikit_learn(served, kit, model, tmp_path) -> None:  # noqa: ANN001
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

    server, keys = served
    rng = np.random.default_rng(7)
    n = 900
    x, p = rng.normal(size=(n, kit.N_FEATURES)), rng.dirichlet(np.ones(kit.N_CLASSES) * 0.7, size=n)
    y = np.where(rng.random(n) < 0.7, p.argmax(axis=1), rng.integers(0, kit.N_CLASSES, n))
    with Client(server.url, keys["ingest"], model, batch_size=250, spool_dir=tmp_path) as client:
        client.log(x[:500], p[:500], labels=y[:500])
        client.log(x[500:], p[500:])  # unlabelled: counted in entropy, not in quality
        client.log(x[500:900], p[500:900], labels=y[500:900])
    labelled_p = np.vstack([p[:500], p[500:900]])
    labelled_y = np.concatenate([y[:500], y[500:900]])
    _wait_folded(server, keys["read"], model, n + 400, kit)
    with Client(server.url, keys["read"], model, spool_dir=tmp_path) as reader:
        q = _latest(reader)["quality"]
    pred = labelled_p.argmax(axis=1)
    assert q["labeled"] == 900 and q["confusion"] == confusion_matrix(labelled_y, pred).tolist()
    for metric, key in ((precision_score, "precision"), (recall_score, "recall"), (f1_score, "f1")):
        expected = metric(labelled_y, pred, average=None)
        assert [c[key] for c in q["per_class"]] == pytest.approx(expected, rel=1e-12)
    assert q["macro_f1"] == pytest.approx(f1_score(labelled_y, pred, average="macro"), rel=1e-12)
    rel = mg.evaluation.reliability(pred == labelled_y, labelled_p.max(axis=1), n_bins=15)
    assert q["ece"] == pytest.approx(rel.ece, rel=1e-9)
    ref_pred = kit.reference()[1].argmax(axis=1)
    ref = np.bincount(ref_pred, minlength=kit.N_CLASSES) / len(ref_pred)
    cur = np.bincount(labelled_y, minlength=kit.N_CLASSES) / len(labelled_y)
    assert q["label_psi"] == pytest.approx(float(mg.info.psi(ref, cur)), rel=1e-9)
    assert q["label_reference"].startswith("the reference's predicted classes")


def test_a_feed_that_starts_duplicating_a_column_fires(served, kit, tmp_path) -> None:  # noqa: ANN001
    server, keys = served
    name = kit.register(server, keys["admin"])
    with Client(server.url, keys["admin"], name, spool_dir=tmp_path) as admin:
        admin.add_alert("collinear", metric="new_dependencies", op=">=", threshold=1, window="1h")
        admin.add_alert("kappa", metric="condition_number", op=">", threshold=1000, window="1h")
    rng = np.random.default_rng(8)
    x, p = rng.normal(size=(400, kit.N_FEATURES)), rng.dirichlet(np.ones(kit.N_CLASSES), size=400)
    hour = 3600 * (time.time() // 3600)
    with Client(server.url, keys["ingest"], name, spool_dir=tmp_path) as client:
        client.log(x, p, timestamps=np.full(400, hour - 1800))  # the previous window: healthy
    _wait_folded(server, keys["read"], name, 400, kit)
    reader = Client(server.url, keys["read"], name, spool_dir=tmp_path)
    healthy = _latest(reader)
    assert healthy["linalg"]["condition_number"] < 30 and healthy["new_dependencies"] == 0
    assert healthy["linalg"]["reference"]["near_dependencies"] == 0
    assert not any(f["id"] == "monitor.linalg.new-dependency" for f in healthy["findings"])
    drifted = rng.normal(size=(600, kit.N_FEATURES))
    drifted[:, 5] = 2 * drifted[:, 1] + 0.5  # the feed starts writing a linear function of x1 into x5
    with Client(server.url, keys["ingest"], name, spool_dir=tmp_path) as client:
        client.log(drifted, p[:1].repeat(600, axis=0), timestamps=np.full(600, hour + 1))  # this window
    _wait_folded(server, keys["read"], name, 1000, kit)
    before, w = reader.drift(window="1h", start=hour - 3600)["windows"][-2:]
    assert before["start"] == hour - 3600 and before["new_dependencies"] == 0 and w["start"] == hour
    lin = w["linalg"]
    assert w["new_dependencies"] == 1 and lin["condition_number"] > 1000 and lin["vif_max"] > 100
    assert lin["vif_max_feature"] in ("x1", "x5")
    finding = next(f for f in w["findings"] if f["id"] == "monitor.linalg.new-dependency")
    assert "x5" in finding["title"] and "x1" in finding["title"]
    deadline = time.time() + 30
    while time.time() < deadline:
        states = {r["name"]: r["state"] for r in reader.alerts()}
        if states == {"collinear": "firing", "kappa": "firing"}:
            break
        time.sleep(0.2)
    assert states == {"collinear": "firing", "kappa": "firing"}
    reader.close()


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_windows_over_the_linalg_limit_say_so(kit, tmp_path) -> None:  # noqa: ANN001
    from mathguard.monitor import Settings, create_app
    from mathguard.monitor.store import Store

    db = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store(db)
    app = create_app(Settings(db=db, max_linalg_features=4), store=store, worker=False)
    from starlette.testclient import TestClient

    key = store.create_key("admin", "admin,ingest,read")
    head = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as http:
        x, p, prof = kit.reference()
        assert http.post("/v1/models", json={"name": "wide", "profile": prof.to_dict()}, headers=head).status_code == 201
        body = {"batch_id": "b1", "features": x[:200].tolist(), "proba": p[:200].tolist()}
        assert http.post("/v1/models/wide/events", json=body, headers=head).status_code == 201
        app.state.service.worker.step()
        lin = http.get("/v1/models/wide/drift", headers=head).json()["windows"][-1]["linalg"]
    assert lin["features"] == 4 and lin["of"] == kit.N_FEATURES and "first 4 of 6" in lin["note"]


def test_training_runs_are_monitored_objects(served, kit, model, tmp_path) -> None:  # noqa: ANN001
    server, keys = served
    with Client(server.url, keys["ingest"], model, spool_dir=tmp_path) as client:
        for step in range(5):
            answer = client.log_step("r1", step, {"loss": 1.0 / (step + 1), "grad_norm": np.float32(2.0 * step)})
            assert answer["stored"] == 1
        assert client.log_step("r1", 4, {"loss": 0.2, "grad_norm": 8.0}) == {"run": "r1", "stored": 0,
                                                                              "duplicate": 1}  # a retry
        with pytest.raises(InputError, match="409.*other metrics"):
            client.log_step("r1", 4, {"loss": 0.3})
        client.log_steps("r2", [{"step": 0, "metrics": {"loss": float("nan")}}, {"step": 1, "metrics": {"loss": 3.0}}])
        with pytest.raises(InputError, match="422.*step must be an integer"):
            client._call("POST", f"/v1/models/{model}/runs/r3/steps", {"steps": [{"step": -1, "metrics": {"a": 1}}]})
        with pytest.raises(InputError, match="422.*within"):
            client._call("POST", f"/v1/models/{model}/runs/r3/steps",
                         {"steps": [{"step": 0, "metrics": {"a": "1.5"}}]})
    with Client(server.url, keys["read"], model, spool_dir=tmp_path) as reader:
        listed = {r["run"]: r for r in reader.runs()}
        assert set(listed) == {"r1", "r2"}
        assert listed["r1"]["n_steps"] == 5 and listed["r1"]["last"] == {"loss": 0.2, "grad_norm": 8.0}
        assert listed["r1"]["findings"] == []
        assert [f["id"] for f in listed["r2"]["findings"]] == ["monitor.training.non-finite"]
        detail = reader.run("r1")
        assert detail["steps"] == [0, 1, 2, 3, 4] and detail["metrics"]["loss"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
        with pytest.raises(InputError, match="404"):
            reader.run("nope")
        with pytest.raises(InputError, match="403"):
            reader.log_step("r9", 0, {"loss": 1.0})
