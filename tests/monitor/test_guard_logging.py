"""The guard logs into a real monitoring server: every readable row is an event, refusals become the alarm rate."""

import time

import httpx
import numpy as np

import mathguard as mg


def test_guard_decisions_reach_the_service(served, model, kit, tmp_path):
    server, keys = served
    x_ref, _, prof = kit.reference()
    weights = np.random.default_rng(1).normal(size=(x_ref.shape[1], kit.N_CLASSES))

    def predict_proba(x):
        z = x @ weights
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    clf = mg.wrap(predict_proba, input_shape=(x_ref.shape[1],))
    energy = mg.detect.Energy(clf).calibrate(x_ref[:2000], fpr=0.05)
    batch = np.random.default_rng(2).normal(size=(200, x_ref.shape[1]))
    batch[:20] += 20.0            # far outside the training range: refused by validation, still logged
    batch[20, 0] = np.nan         # unreadable: not an event
    with mg.monitor.Client(server.url, keys["ingest"], model, spool_dir=tmp_path / "spool") as client:
        guard = mg.Guard(clf, profile=prof, detectors=[energy], monitor=client)
        out = guard.predict(batch)
    assert out.layer[0] == "validation" and out.layer[20] == "validation"
    read = kit.auth(keys["read"])
    deadline = time.time() + 30
    while time.time() < deadline:  # the worker folds committed batches into windows in the background
        stats = httpx.get(f"{server.url}/v1/models/{model}/stats", headers=read).json()
        if stats["events"] == 199 and stats.get("pending_events", 0) == 0:
            break
        time.sleep(0.3)
    assert stats["events"] == 199
    windows = httpx.get(f"{server.url}/v1/models/{model}/drift?window=1h", headers=read).json()["windows"]
    alarm = [w["alarm_rate"] for w in windows if w.get("alarm_rate") is not None]
    logged = np.delete(out.abstained, 20)
    assert alarm and abs(alarm[-1] - logged.mean()) < 1e-9
    assert guard.report().metrics["monitor_errors"] == 0
