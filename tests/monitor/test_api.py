"""The HTTP API against a real server, once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families


def _batch(kit, batch_id: str, n: int = 200, shift: float = 0.0, seed: int = 1, **extra):  # noqa: ANN001, ANN003
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, kit.N_FEATURES)) + shift
    p = rng.dirichlet(np.ones(kit.N_CLASSES), size=n)
    return {"batch_id": batch_id, "features": x.tolist(), "proba": p.tolist(), **extra}


def _stats(server, keys, m: str) -> dict:  # noqa: ANN001
    return httpx.get(f"{server.url}/v1/models/{m}/stats", headers={"Authorization": f"Bearer {keys['read']}"}).json()


def _folded(server, keys, m: str) -> dict:  # noqa: ANN001
    """Stats once the worker has folded every committed batch into windows."""
    deadline = time.time() + 30
    while (stats := _stats(server, keys, m))["pending_events"] and time.time() < deadline:
        time.sleep(0.1)
    return stats


def test_keys_and_scopes(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    m = model
    url = server.url + f"/v1/models/{m}/events"
    body = _batch(kit, "b")
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers=kit.auth("mg_not-a-key")).status_code == 401
    assert httpx.post(url, json=body, headers=kit.auth(keys["read"])).status_code == 403
    r = httpx.post(server.url + "/v1/models", json={"name": "x", "profile": {}}, headers=kit.auth(keys["ingest"]))
    assert r.status_code == 403
    assert httpx.get(server.url + f"/v1/models/{m}/stats", headers=kit.auth(keys["ingest"])).status_code == 403
    assert _stats(server, keys, m)["events"] == 0


def test_bad_input_is_refused_with_one_line_and_writes_nothing(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    m = model
    url, h = server.url + f"/v1/models/{m}/events", kit.auth(keys["ingest"])
    good = _batch(kit, "ok", n=10)
    bad_rows = [list(r) for r in good["proba"]]
    bad_rows[3][0] += 0.5
    negative = [list(r) for r in good["proba"]]
    negative[0] = [-0.2, 0.6, 0.6]
    cases = {
        "nan proba": (b'{"batch_id":"a","features":[[0,0,0,0,0,0]],"proba":[[NaN,0.5,0.5]]}', 400),
        "null proba": ({**good, "batch_id": "b", "proba": [[None, 0.5, 0.5]] * 10}, 422),
        "negative proba": ({**good, "batch_id": "c", "proba": negative}, 422),
        "rows not summing to 1": ({**good, "batch_id": "d", "proba": bad_rows}, 422),
        "wrong feature count": ({**good, "batch_id": "e", "features": [[0.0] * 5] * 10}, 422),
        "ragged rows": ({**good, "batch_id": "f", "features": [[0.0] * 6] * 9 + [[0.0] * 7]}, 422),
        "text feature": ({**good, "batch_id": "g", "features": [["a"] * 6] * 10}, 422),
        "no batch id": ({k: v for k, v in good.items() if k != "batch_id"}, 422),
        "labels out of range": ({**good, "batch_id": "h", "labels": [7] * 10}, 422),
        "bad timestamp": ({**good, "batch_id": "i", "timestamps": ["yesterday"] * 10}, 422),
        "future timestamp": ({**good, "batch_id": "j", "timestamps": [time.time() + 86400] * 10}, 422),
        "malformed json": (b'{"batch_id": "k", "features": [[1,2', 400),
        "not an object": (b"[1, 2, 3]", 422),
    }
    for name, (body, status) in cases.items():
        r = (httpx.post(url, content=body, headers={**h, "content-type": "application/json"})
             if isinstance(body, bytes) else httpx.post(url, json=body, headers=h))
        assert r.status_code == status, (name, r.status_code, r.text)
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail and detail, name
    r = httpx.post(server.url + "/v1/models/nope/events", json=good, headers=h)
    assert r.status_code == 404 and "unknown model" in r.json()["detail"]
    assert _stats(server, keys, m)["events"] == 0 and _stats(server, keys, m)["batches"] == 0


def test_oversize_answers_413_with_retry_after(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    m = model
    url, h = server.url + f"/v1/models/{m}/events", kit.auth(keys["ingest"])
    r = httpx.post(url, json=_batch(kit, "many", n=5001), headers=h)  # server allows 5000 events per batch
    assert r.status_code == 413 and "Retry-After" in r.headers
    r = httpx.post(url, content=b" " * (3 * 2**20), headers={**h, "content-type": "application/json"})  # 2 MiB limit
    assert r.status_code == 413 and "Retry-After" in r.headers
    assert _stats(server, keys, m)["events"] == 0


def test_ingest_is_idempotent_and_counted(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    m = model
    url, h = server.url + f"/v1/models/{m}/events", kit.auth(keys["ingest"])
    first = httpx.post(url, json=_batch(kit, "b1"), headers=h)
    assert first.status_code == 201 and first.json() == {"batch_id": "b1", "stored": 200, "duplicate": False}
    again = httpx.post(url, json=_batch(kit, "b1"), headers=h)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert httpx.post(url, json=_batch(kit, "b2", n=50), headers=h).status_code == 201
    stats = _folded(server, keys, m)
    assert stats["events"] == 250 and stats["batches"] == 2 and stats["profiled_events"] == 250
    assert stats["first"] <= stats["last"]


def test_drift_per_window_from_stored_profiles(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    m = model
    h = kit.auth(keys["ingest"])
    hour = 3600
    now = time.time()
    base = (now // hour - 3) * hour  # three whole past hours
    for i, shift in enumerate([0.0, 0.0, 1.5]):
        stamps = [base + i * hour + 60 + j for j in range(600)]
        body = _batch(kit, f"h{i}", n=600, shift=shift, seed=10 + i, timestamps=stamps)
        p = np.array(body["proba"])
        body["labels"] = p.argmax(axis=1).tolist()[:300] + [None] * 300  # half labelled, all right
        body["alarms"] = [j % 10 == 0 for j in range(600)]
        assert httpx.post(f"{server.url}/v1/models/{m}/events", json=body, headers=h).status_code == 201
    _folded(server, keys, m)
    r = httpx.get(f"{server.url}/v1/models/{m}/drift", params={"window": "1h", "start": base, "end": now},
                  headers=kit.auth(keys["read"]))
    assert r.status_code == 200, r.text
    windows = r.json()["windows"]
    assert [w["start"] for w in windows] == [base, base + hour, base + 2 * hour]
    assert [w["events"] for w in windows] == [600, 600, 600]
    assert windows[0]["verdict"] == "no drift" and windows[2]["verdict"] == "major drift"
    assert set(windows[2]["features"]) == {f"x{i}" for i in range(kit.N_FEATURES)}
    assert windows[2]["psi_max"] > 0.25 > windows[0]["psi_max"]
    for w in windows:
        assert w["accuracy"] == 1.0 and w["labeled"] == 300 and w["alarm_rate"] == pytest.approx(0.1)
        assert 0 < w["entropy_mean"] < np.log2(kit.N_CLASSES)
    day = httpx.get(f"{server.url}/v1/models/{m}/drift", params={"window": "1d", "start": base, "end": now},
                    headers=kit.auth(keys["read"])).json()["windows"]
    assert sum(w["events"] for w in day) == 1800
    bad = httpx.get(f"{server.url}/v1/models/{m}/drift", params={"window": "90s"}, headers=kit.auth(keys["read"]))
    assert bad.status_code == 422 and "multiple" in bad.json()["detail"]


def _samples(server) -> tuple[dict, dict]:  # noqa: ANN001
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(server.url + "/metrics").text)}
    return families, {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}


def test_metrics_parse_with_prometheus_client(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    m = model
    h = kit.auth(keys["ingest"])
    rejected = ("mathguard_rejected_requests_total", (("reason", "bad_request"),))
    before = _samples(server)[1][rejected]
    assert httpx.post(f"{server.url}/v1/models/{m}/events", json=_batch(kit, "m1", n=120), headers=h).status_code == 201
    httpx.post(f"{server.url}/v1/models/{m}/events", json={"batch_id": "bad"}, headers=h)
    _folded(server, keys, m)
    deadline = time.time() + 20  # the worker caches the window's drift summary shortly after folding
    while ("mathguard_window_psi_max", (("model", m),)) not in (samples := _samples(server)[1]) and time.time() < deadline:
        time.sleep(0.2)
    families, samples = _samples(server)
    assert all(name.startswith("mathguard_") for name in families)
    assert samples[("mathguard_events_total", (("model", m),))] == 120
    assert samples[rejected] == before + 1
    assert samples[("mathguard_stored_events", (("model", m),))] == 120
    assert ("mathguard_window_psi_max", (("model", m),)) in samples
    assert families["mathguard_ingest_seconds"].type == "histogram"


def test_backlog_over_limit_answers_429_with_retry_after(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    m = model
    busy = kit.Server(server.db, "--max-pending-events", "100", "--fold-interval", "60").start()  # folds only after 60 s
    try:
        url, h = f"{busy.url}/v1/models/{m}/events", kit.auth(keys["ingest"])
        assert httpx.post(url, json=_batch(kit, "q1"), headers=h).status_code == 201  # backlog 0 → 200
        r = httpx.post(url, json=_batch(kit, "q2"), headers=h)
        assert r.status_code == 429 and r.headers["Retry-After"].isdigit() and "busy" in r.json()["detail"]
    finally:
        busy.stop()
    assert _stats(server, keys, m)["batches"] == 1
