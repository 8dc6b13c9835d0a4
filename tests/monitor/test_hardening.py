"""Issue #23 against a real server (SQLite and PostgreSQL): values the math cannot carry are refused at the door,
one model's failure is isolated and reported, nonsense profiles and hostile inputs are 4xx (never 5xx)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families


def _batch(kit, batch_id: str, n: int = 50, seed: int = 1, **extra) -> dict:  # noqa: ANN001, ANN003
    rng = np.random.default_rng(seed)
    return {"batch_id": batch_id, "features": rng.normal(size=(n, kit.N_FEATURES)).tolist(),
            "proba": rng.dirichlet(np.ones(kit.N_CLASSES), size=n).tolist(), **extra}


def _stats(server, keys, m: str) -> dict:  # noqa: ANN001
    return httpx.get(f"{server.url}/v1/models/{m}/stats", headers={"Authorization": f"Bearer {keys['read']}"}).json()


def _wait(condition, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def _one_line(r: httpx.Response) -> str:
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail, r.text
    return detail


def _metric(server, name: str, labels: dict[str, str]) -> float | None:  # noqa: ANN001
    for family in text_string_to_metric_families(httpx.get(server.url + "/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def test_values_whose_squares_overflow_are_refused_naming_the_feature(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    url, h = f"{server.url}/v1/models/{model}/events", kit.auth(keys["ingest"])
    for value in (1e308, 1e300, 1e200, 1e155, -1e154, 1e147):
        body = _batch(kit, f"big-{value:g}")
        body["features"][3][2] = value
        r = httpx.post(url, json=body, headers=h)
        assert r.status_code == 422, (value, r.status_code, r.text)
        assert "'x2'" in _one_line(r) and "overflow" in r.json()["detail"]
    body = _batch(kit, "inf")
    r = httpx.post(url, content=json.dumps(body).replace("]]", ", Infinity]]", 1).encode(),
                   headers={**h, "content-type": "application/json"})
    assert r.status_code in (400, 422)
    fine = _batch(kit, "fine")
    fine["features"][0][0] = 1e140  # large but carried: its square summed over any window stays finite
    assert httpx.post(url, json=fine, headers=h).status_code == 201
    _wait(lambda: _stats(server, keys, model)["pending_events"] == 0)
    stats = _stats(server, keys, model)
    assert stats["events"] == 50 and stats["profiled_events"] == 50
    r = httpx.get(f"{server.url}/v1/models/{model}/drift", params={"window": "1h"}, headers=kit.auth(keys["read"]))
    assert r.status_code == 200 and r.json()["windows"][0]["events"] == 50
    assert httpx.get(f"{server.url}/v1/dashboard", headers=kit.auth(keys["read"])).status_code == 200
    assert httpx.get(server.url + "/healthz").json()["ok"] is True


def test_hostile_data_types_are_422(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    url, h = f"{server.url}/v1/models/{model}/events", kit.auth(keys["ingest"])
    good = _batch(kit, "g", n=4)
    labels_ok = [0, 1, None, 2]
    cases = {
        "string number": {**good, "features": [["1.5"] * kit.N_FEATURES] * 4},
        "string nan": {**good, "features": [["nan"] * kit.N_FEATURES] * 4},
        "booleans": {**good, "features": [[True] * kit.N_FEATURES] * 4},
        "label -1": {**good, "labels": [-1, 0, 1, 2]},
        "label 2^63": {**good, "labels": [2**63, 0, 1, 2]},
        "label 2^64-1": {**good, "labels": [2**64 - 1, 0, 1, 2]},
        "label bool": {**good, "labels": [True, 0, 1, 2]},
        "label float": {**good, "labels": [1.0, 0, 1, 2]},
        "NUL in batch_id": {**good, "batch_id": "a\u0000b"},
        "newline in batch_id": {**good, "batch_id": "a\nb"},
        "proba as strings": {**good, "proba": [["0.2", "0.3", "0.5"]] * 4},
        "timestamp far future": {**good, "timestamps": [1e300] * 4},
        "timestamp bool": {**good, "timestamps": [True] * 4},
        "huge integer feature": {**good, "features": [[2**60] * kit.N_FEATURES] * 4},
    }
    for name, body in cases.items():
        r = httpx.post(url, json=body, headers=h)
        assert r.status_code == 422, (name, r.status_code, r.text)
        _one_line(r)
    assert httpx.post(url, json={**good, "labels": labels_ok}, headers=h).status_code == 201
    for kind in ("text/plain", "application/x-www-form-urlencoded", ""):
        r = httpx.post(url, content=json.dumps({**good, "batch_id": "ct"}).encode(),
                       headers={**h, "content-type": kind})
        assert r.status_code == 415, (kind, r.text)
        _one_line(r)
    assert _stats(server, keys, model)["batches"] == 1


def _profile(kit) -> dict:  # noqa: ANN001
    return kit.reference(n=300)[2].to_dict()


def _nonsense(kit) -> dict[str, dict]:  # noqa: ANN001
    p = _profile(kit)

    def edit(path: str, value):  # noqa: ANN001, ANN202
        doc = json.loads(json.dumps(p))
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[part]
        node[last] = value
        return doc

    return {
        "n_rows -5": edit("n_rows", -5), "n_rows 0": edit("n_rows", 0), "n_rows string": edit("n_rows", "300"),
        "n_classes 0": edit("n_classes", 0), "n_classes 1": edit("n_classes", 1),
        "n_classes 1e6": edit("n_classes", 1_000_000), "n_classes bool": edit("n_classes", True),
        "min > max": edit("features.x0.min", 5.0), "max < min": edit("features.x1.max", -50.0),
        "mean string NaN": edit("features.x0.mean", "NaN"), "mean string": edit("features.x0.mean", "0.1"),
        "m2 negative": edit("features.x0.m2", -1.0), "m2 huge": edit("features.x0.m2", 1e300),
        "mean outside": edit("features.x0.mean", 1e100),
        "n negative": edit("features.x0.n", -3), "counts do not add up": edit("features.x0.n_missing", 7),
        "empty features": edit("features", {}), "null features": edit("features", None),
        "null feature": edit("features.x0", None), "categorical feature": edit("features.x0.kind", "categorical"),
        "sketch counts": edit("features.x0.sketch.counts", [1, 2, 3]),
        "sketch level": edit("features.x0.sketch.level", 99),
        "prediction counts": edit("prediction.counts", {"0": 1, "7": 5}),
        "entropy beyond log2 K": edit("entropy.max", 9.0),
        "sample hashes": edit("sample.hashes", ["x"]),
        "no schema": edit("schema", "other/1"),
        "not an object": [],
    }


def test_nonsense_profiles_are_refused_and_listing_keeps_working(served, kit) -> None:  # noqa: ANN001
    server, keys = served
    h = kit.auth(keys["admin"])
    for name, profile in _nonsense(kit).items():
        r = httpx.post(server.url + "/v1/models", json={"name": "bad-" + uuid.uuid4().hex[:6], "profile": profile},
                       headers=h)
        assert r.status_code == 422, (name, r.status_code, r.text[:300])
        _one_line(r)
    body = json.dumps({"name": "nan-literal", "profile": _profile(kit)}).replace(
        '"mean": ', '"mean": NaN, "_": ', 1).encode()
    r = httpx.post(server.url + "/v1/models", content=body, headers={**h, "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert httpx.get(server.url + "/v1/models", headers=kit.auth(keys["read"])).status_code == 200
    assert httpx.post(server.url + "/v1/models", json={"name": "sane-" + uuid.uuid4().hex[:6],
                                                       "profile": _profile(kit)}, headers=h).status_code == 201


def _poison(db: str, model: str, kit) -> None:  # noqa: ANN001
    """A batch the door would refuse, written straight into the database (as a bug or an old server might)."""
    from mathguard.monitor.events import EventBatch
    from mathguard.monitor.store import Store

    store = Store(db)
    try:
        n = 10
        x = np.full((n, kit.N_FEATURES), 1e200)
        p = np.full((n, kit.N_CLASSES), 1 / kit.N_CLASSES)
        assert store.insert_batch(store.model(model), EventBatch("poison", x, p, None, None, np.full(n, time.time())),
                                  time.time())
    finally:
        store.close()


def test_one_failing_model_is_isolated_and_reported(served, kit) -> None:  # noqa: ANN001
    server, keys = served
    bad, good = kit.register(server, keys["admin"]), kit.register(server, keys["admin"])
    rule = {"name": "any-events", "metric": "events", "op": ">", "threshold": 0, "window": "1h"}
    assert httpx.post(f"{server.url}/v1/models/{good}/alerts", json=rule, headers=kit.auth(keys["admin"])
                      ).status_code == 201
    _poison(server.db, bad, kit)
    _wait(lambda: any(f["model"] == bad for f in httpx.get(server.url + "/healthz").json()["failed_models"]))
    health = httpx.get(server.url + "/healthz")
    assert health.status_code == 200  # the process and its worker live; one model is failing
    doc = health.json()
    assert doc["ok"] is False and doc["status"] == "degraded" and doc["worker"]["alive"] is True
    failure = next(f for f in doc["failed_models"] if f["model"] == bad)
    assert failure["stage"] == "fold" and failure["error"]
    assert _metric(server, "mathguard_model_fold_failed", {"model": bad, "stage": "fold"}) == 1.0
    assert _metric(server, "mathguard_model_fold_failed", {"model": good, "stage": "fold"}) == 0.0
    assert _metric(server, "mathguard_worker_up", {}) == 1.0
    # The other model carries on: its events are folded, its rule fires, its dashboard entry is drawn.
    r = httpx.post(f"{server.url}/v1/models/{good}/events", json=_batch(kit, "g1"), headers=kit.auth(keys["ingest"]))
    assert r.status_code == 201
    _wait(lambda: _stats(server, keys, good)["pending_events"] == 0 and _stats(server, keys, good)["windows"] == 1)
    _wait(lambda: httpx.get(f"{server.url}/v1/models/{good}/alerts", headers=kit.auth(keys["read"])).json()[0]["state"]
          == "firing")
    dash = httpx.get(f"{server.url}/v1/dashboard", headers=kit.auth(keys["read"]))
    assert dash.status_code == 200
    entries = {m["name"]: m for m in dash.json()["models"]}
    assert entries[bad]["failed"] is True and entries[bad]["failures"][0]["stage"] == "fold"
    assert entries[good]["failed"] is False and entries[good]["points"][-1]["events"] == 50
    # Ingest to the failed model is refused with 503 (its events wait), not accepted into a dead end.
    r = httpx.post(f"{server.url}/v1/models/{bad}/events", json=_batch(kit, "b1"), headers=kit.auth(keys["ingest"]))
    assert r.status_code == 503 and "Retry-After" in r.headers
    _one_line(r)
    assert _stats(server, keys, bad)["pending_events"] == 10  # nothing of the poisoned batch was folded


def test_back_pressure_ignores_a_failed_models_backlog(served, kit) -> None:  # noqa: ANN001
    server, keys = served
    bad, good = kit.register(server, keys["admin"]), kit.register(server, keys["admin"])
    _poison(server.db, bad, kit)
    busy = kit.Server(server.db, "--max-pending-events", "5", "--fold-interval", "0.2").start()
    try:
        _wait(lambda: any(f["model"] == bad for f in httpx.get(busy.url + "/healthz").json()["failed_models"]))
        for i in range(3):  # each batch is folded before the next: the poisoned 10 events block nobody
            r = httpx.post(f"{busy.url}/v1/models/{good}/events", json=_batch(kit, f"p{i}", n=3),
                           headers=kit.auth(keys["ingest"]))
            assert r.status_code == 201, r.text
            _wait(lambda: _stats(busy, keys, good)["pending_events"] == 0)
    finally:
        busy.stop()


def test_rule_and_query_inputs_that_used_to_be_500(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    url, h = f"{server.url}/v1/models/{model}/alerts", kit.auth(keys["admin"])
    raw = {"threshold NaN literal": b'{"name": "n1", "metric": "psi_max", "threshold": NaN}',
           "threshold Infinity": b'{"name": "n2", "metric": "psi_max", "threshold": Infinity}',
           "threshold 1e999": b'{"name": "n3", "metric": "psi_max", "threshold": 1e999}'}
    for name, body in raw.items():
        r = httpx.post(url, content=body, headers={**h, "content-type": "application/json"})
        assert r.status_code == 422, (name, r.text)
        _one_line(r)
    for name, body in {"threshold string NaN": {"name": "s1", "metric": "psi_max", "threshold": "NaN"},
                       "threshold string": {"name": "s2", "metric": "psi_max", "threshold": "0.5"},
                       "huge for": {"name": "s3", "metric": "psi_max", "threshold": 1, "for": "999999999999d"},
                       "huge window": {"name": "s4", "metric": "psi_max", "threshold": 1, "window": "99999999999h"},
                       "window in digits": {"name": "s5", "metric": "psi_max", "threshold": 1, "window": "9" * 30},
                       "name of 201": {"name": "r" * 201, "metric": "psi_max", "threshold": 1}}.items():
        r = httpx.post(url, json=body, headers=h)
        assert r.status_code == 422, (name, r.text)
        _one_line(r)
    long_name = "r" * 150  # the API allows 200 characters; PostgreSQL's column used to hold 100
    r = httpx.post(url, json={"name": long_name, "metric": "psi_max", "threshold": 1}, headers=h)
    assert r.status_code == 201, r.text
    assert httpx.delete(f"{url}/{long_name}", headers=h).status_code == 204
    read = kit.auth(keys["read"])
    for params in ({"window": "9999999999d"}, {"start": "1e300"}, {"end": "-5"}, {"start": "nan"}):
        r = httpx.get(f"{server.url}/v1/models/{model}/drift", params=params, headers=read)
        assert r.status_code == 422, (params, r.text)
        _one_line(r)


def test_reused_batch_id_with_other_content_is_409(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    url, h = f"{server.url}/v1/models/{model}/events", kit.auth(keys["ingest"])
    assert httpx.post(url, json=_batch(kit, "same", seed=1), headers=h).status_code == 201
    again = httpx.post(url, json=_batch(kit, "same", seed=1), headers=h)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    other = httpx.post(url, json=_batch(kit, "same", seed=2), headers=h)
    assert other.status_code == 409 and "other content" in _one_line(other)
    assert _stats(server, keys, model)["events"] == 50


def test_a_batch_may_open_a_bounded_number_of_windows(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    url, h = f"{server.url}/v1/models/{model}/events", kit.auth(keys["ingest"])
    now = time.time()
    spread = _batch(kit, "spread", n=500, timestamps=[now - 3600 * i for i in range(500)])
    r = httpx.post(url, json=spread, headers=h)
    assert r.status_code == 422 and "windows" in _one_line(r)
    day = _batch(kit, "day", n=24, timestamps=[now - 3600 * i for i in range(24)])
    assert httpx.post(url, json=day, headers=h).status_code == 201
    _wait(lambda: _stats(server, keys, model)["pending_events"] == 0)
    assert _stats(server, keys, model)["windows"] in (24, 25)


def test_admin_bodies_are_limited_and_headers_are_safe(served, kit) -> None:  # noqa: ANN001
    server, keys = served
    h = {**kit.auth(keys["admin"]), "content-type": "application/json"}
    r = httpx.post(server.url + "/v1/models", content=b'{"name": "x", "profile": {"a": "' + b"a" * (9 * 2**20) + b'"}}',
                   headers=h)
    assert r.status_code == 413
    _one_line(r)
    page = httpx.get(server.url + "/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "") and "https://" not in page.text
    api = httpx.get(server.url + "/healthz")
    assert api.headers["x-content-type-options"] == "nosniff" and "default-src 'none'" in api.headers[
        "content-security-policy"]
    assert httpx.get(server.url + "/docs").status_code == 404  # its page loads scripts from a CDN
    assert httpx.get(server.url + "/openapi.json").status_code == 200


def _stall(server, path: str, key: str):  # noqa: ANN001, ANN202
    """A connection that sends the headers and 10 of 1000 promised body bytes, then nothing."""
    import socket

    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + '{"batch_id"').encode())
    return sock


def test_stalled_uploads_time_out_and_free_their_slots(served, kit) -> None:  # noqa: ANN001
    server, keys = served
    tight = kit.Server(server.db, settings={"body_timeout_s": 1.0, "max_inflight": 2}).start()
    try:
        model = kit.register(tight, keys["admin"])
        stalled = [_stall(tight, f"/v1/models/{model}/events", keys["ingest"]) for _ in range(2)]
        stalled.append(_stall(tight, "/v1/models", keys["admin"]))
        for sock in stalled:  # each is answered 408 once the deadline passes, and its slot is free again
            answer = sock.recv(4096).decode()
            assert answer.startswith("HTTP/1.1 408"), answer[:200]
            sock.close()
        r = httpx.post(f"{tight.url}/v1/models/{model}/events", json=_batch(kit, "after"), headers=kit.auth(keys["ingest"]))
        assert r.status_code == 201, r.text
    finally:
        tight.stop()


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_healthz_is_503_when_the_worker_is_gone(tmp_path) -> None:  # noqa: ANN001
    """In process (the thread cannot be stopped from outside a real server): a dead worker is a 503."""
    from fastapi.testclient import TestClient

    from mathguard.monitor import Settings, create_app

    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'h.db'}", fold_interval_s=0.05))
    with TestClient(app) as client:
        ok = client.get("/healthz")
        assert ok.status_code == 200 and ok.json()["worker"]["alive"] is True
        app.state.service.worker.stop()  # the folding thread ends (as if it had died)
        down = client.get("/healthz")
        assert down.status_code == 503 and down.json()["status"] == "down" and down.json()["ok"] is False
