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
    # the guard closes first (inner block): its queue reaches the client before the client's last flush
    with mg.monitor.Client(server.url, keys["ingest"], model, spool_dir=tmp_path / "spool") as client, \
            mg.Guard(clf, profile=prof, detectors=[energy], monitor=client) as guard:
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
    m = guard.report().metrics
    assert m["monitor_errors"] == 0 and m["monitor_logged_rows"] == 199 and m["monitor_dropped_rows"] == 0


def test_a_dead_service_costs_no_prediction_and_is_counted(tmp_path):
    # before: every predict waited for the client's retries (4.6 -> 24 s) and monitor_errors stayed 0
    from mathguard.monitor.pgtemp import free_port

    rng = np.random.default_rng(0)
    weights = rng.normal(size=(6, 3))
    clf = mg.wrap(lambda x: np.exp(x @ weights) / np.exp(x @ weights).sum(1, keepdims=True), input_shape=(6,))
    client = mg.monitor.Client(f"http://127.0.0.1:{free_port()}", "key", "m", batch_size=10,
                               spool_dir=tmp_path / "spool", retries=0)
    try:
        with mg.Guard(clf, monitor=client, flush_interval=0) as guard:
            outs = [guard.predict(rng.normal(size=(10, 6))) for _ in range(3)]
        assert all(len(o.labels) == 10 and not o.abstained.any() for o in outs)
        counts = guard.log_counts
        assert counts.logged_rows == 30 and counts.dropped_rows == 0  # the client took every event ...
        assert counts.spooled_batches == 3 and counts.errors >= 1  # ... and keeps them in its spool
        assert len(list((tmp_path / "spool").glob("*.json"))) == 3
        rep = guard.report()
        assert rep.metrics["monitor_errors"] >= 1 and rep.metrics["monitor_spooled_batches"] == 3
        (finding,) = [f for f in rep.findings if f.id == "monitor.logging-failed"]
        assert "3 batches waiting in the client's spool" in finding.title
    finally:
        client.close()
