"""Webhooks (issue #23): a destination policy against SSRF, URLs masked for read keys, delivery from a durable
outbox on its own thread (a blocked webhook delays no folding; a kill -9 mid-delivery loses no notification)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest


class _Hook(BaseHTTPRequestHandler):
    """Records every POST; while ``gate`` is clear, the first request hangs (a slow or dead receiver)."""

    received: list[dict] = []
    arrived = threading.Event()
    gate = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        _Hook.arrived.set()
        _Hook.gate.wait(timeout=60)
        _Hook.received.append(body)
        try:
            self.send_response(204)
            self.end_headers()
        except OSError:
            pass

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture
def hook():  # noqa: ANN201
    _Hook.received, _Hook.arrived, _Hook.gate = [], threading.Event(), threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    _Hook.gate.set()
    server.shutdown()


def _wait(condition, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def _events(kit, batch_id: str, n: int = 20) -> dict:  # noqa: ANN001
    rng = np.random.default_rng(len(batch_id))
    return {"batch_id": batch_id, "features": rng.normal(size=(n, kit.N_FEATURES)).tolist(),
            "proba": rng.dirichlet(np.ones(kit.N_CLASSES), size=n).tolist()}


RULE = {"name": "any", "metric": "events", "op": ">", "threshold": 0, "window": "1h"}


def test_private_destinations_are_refused_unless_allowed(served, kit) -> None:  # noqa: ANN001
    server, keys = served
    strict = kit.Server(server.db).start()  # the operator did not allow private destinations
    try:
        model = kit.register(strict, keys["admin"])
        url, h = f"{strict.url}/v1/models/{model}/alerts", kit.auth(keys["admin"])
        for i, target in enumerate(["http://127.0.0.1:9/x", "http://localhost/x", "http://169.254.169.254/latest",
                                    "http://10.1.2.3/", "http://192.168.0.1/", "http://[::1]/", "http://0.0.0.0/",
                                    "http://[fe80::1]/", "http://user:pw@hooks.example.com/", "gopher://x/",
                                    "http://[::ffff:127.0.0.1]/"]):
            r = httpx.post(url, json={**RULE, "name": f"r{i}", "webhooks": [target]}, headers=h)
            assert r.status_code == 422, (target, r.text)
            assert "\n" not in r.json()["detail"]
        assert httpx.post(url, json={**RULE, "webhooks": ["https://hooks.example.com/x"]}, headers=h).status_code == 201
    finally:
        strict.stop()
    # The shared server was started with MATHGUARD_ALLOW_PRIVATE_WEBHOOKS=1: loopback is accepted there.
    model = kit.register(server, keys["admin"])
    r = httpx.post(f"{server.url}/v1/models/{model}/alerts", json={**RULE, "webhooks": ["http://127.0.0.1:9/x"]},
                   headers=kit.auth(keys["admin"]))
    assert r.status_code == 201


def test_webhook_urls_are_masked_for_read_keys(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    secret = "https://hooks.example.com/services/T000/B000/SECRETTOKEN"
    r = httpx.post(f"{server.url}/v1/models/{model}/alerts", json={**RULE, "webhooks": [secret]},
                   headers=kit.auth(keys["admin"]))
    assert r.status_code == 201 and r.json()["webhooks"] == [secret]
    assert httpx.post(f"{server.url}/v1/models/{model}/events", json=_events(kit, "m"),
                      headers=kit.auth(keys["ingest"])).status_code == 201

    def history(key: str) -> list[dict]:
        return [h for h in httpx.get(f"{server.url}/v1/alerts/history", headers=kit.auth(key)).json()
                if h["model"] == model]

    _wait(lambda: any(h["deliveries"] for h in history(keys["read"])))
    for path in (f"/v1/models/{model}/alerts", "/v1/alerts/history", "/v1/dashboard"):
        text = httpx.get(server.url + path, headers=kit.auth(keys["read"])).text
        assert "SECRETTOKEN" not in text and "hooks.example.com" in text, path
    both = kit.make_key(server.db, "admin,read")
    assert httpx.get(f"{server.url}/v1/models/{model}/alerts", headers=kit.auth(both)).json()[0]["webhooks"] == [secret]
    assert history(both)[0]["deliveries"][0]["url"] == secret


def test_a_hanging_webhook_delays_no_folding_and_survives_kill_9(served, kit, hook) -> None:  # noqa: ANN001
    server, keys = served
    quick = kit.Server(server.db, settings={"alert_interval_s": 0.5, "webhook_timeout_s": 2.0, "fold_interval_s": 0.1,
                                            "allow_private_webhooks": True}).start()
    try:
        watched, other = kit.register(quick, keys["admin"]), kit.register(quick, keys["admin"])
        assert httpx.post(f"{quick.url}/v1/models/{watched}/alerts", json={**RULE, "webhooks": [hook]},
                          headers=kit.auth(keys["admin"])).status_code == 201
        ingest = kit.auth(keys["ingest"])
        assert httpx.post(f"{quick.url}/v1/models/{watched}/events", json=_events(kit, "w"), headers=ingest
                          ).status_code == 201
        assert _Hook.arrived.wait(30)  # the delivery is under way and hangs
        # While the receiver hangs, another model's batch is folded: delivery runs apart from folding.
        assert httpx.post(f"{quick.url}/v1/models/{other}/events", json=_events(kit, "o"), headers=ingest
                          ).status_code == 201
        _wait(lambda: httpx.get(f"{quick.url}/v1/models/{other}/stats", headers=kit.auth(keys["read"])
                                ).json()["profiled_events"] == 20)
        quick.kill()  # SIGKILL in the middle of the delivery
        _Hook.gate.set()  # the receiver answers again (the dead server's request goes nowhere)
        quick.start()
        read = kit.auth(keys["read"])
        _wait(lambda: any(b["status"] == "firing" and b["model"] == watched for b in _Hook.received))

        def mine() -> list[dict]:
            return [h for h in httpx.get(f"{quick.url}/v1/alerts/history", headers=read).json() if h["model"] == watched]

        _wait(lambda: mine() and mine()[0]["deliveries"][0]["state"] == "delivered")
        assert [h["status"] for h in mine()] == ["firing"]  # one transition, kept in the history
        assert mine()[0]["deliveries"][0]["status"] == 204
        rules = httpx.get(f"{quick.url}/v1/models/{watched}/alerts", headers=read).json()
        assert rules[0]["state"] == "firing"
        assert httpx.get(quick.url + "/healthz").json()["webhooks"]["alive"] is True
    finally:
        quick.stop()
