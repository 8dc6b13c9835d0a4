"""Alert rules on a real server: pending → firing → resolved, one webhook per transition, history kept."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import numpy as np


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def _labelled(kit, batch_id: str, right: bool, n: int = 300) -> dict:  # noqa: ANN001
    rng = np.random.default_rng(len(batch_id))
    p = rng.dirichlet(np.ones(kit.N_CLASSES), size=n)
    labels = p.argmax(axis=1) if right else (p.argmax(axis=1) + 1) % kit.N_CLASSES
    return {"batch_id": batch_id, "features": rng.normal(size=(n, kit.N_FEATURES)).tolist(), "proba": p.tolist(),
            "labels": labels.tolist()}


def _wait(condition, timeout: float = 60.0) -> None:  # noqa: ANN001  (liveness, not speed: a loaded host folds slowly)
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def test_accuracy_alert_fires_once_then_resolves(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        rule = {"name": "accuracy-drop", "metric": "accuracy", "op": "<", "threshold": 0.5, "window": "1h",
                "for": "1s", "webhooks": [f"http://127.0.0.1:{hook.server_port}/hook"]}
        r = httpx.post(f"{server.url}/v1/models/{model}/alerts", json=rule, headers=kit.auth(keys["admin"]))
        assert r.status_code == 201 and r.json()["state"] == "ok", r.text
        dup = httpx.post(f"{server.url}/v1/models/{model}/alerts", json=rule, headers=kit.auth(keys["admin"]))
        assert dup.status_code == 409
        events = f"{server.url}/v1/models/{model}/events"
        assert httpx.post(events, json=_labelled(kit, "wrong", right=False), headers=kit.auth(keys["ingest"])).is_success
        _wait(lambda: len(_Hook.received) == 1)
        assert _Hook.received[0]["status"] == "firing" and _Hook.received[0]["value"] == 0.0
        assert _Hook.received[0]["finding"]["lens"] == "monitor"
        time.sleep(2.5)  # two more evaluations with the condition still true: no second notification
        assert len(_Hook.received) == 1
        # 900 right of 1200: accuracy 0.75, in one batch so that no evaluation sees part of it
        assert httpx.post(events, json=_labelled(kit, "right", right=True, n=900),
                          headers=kit.auth(keys["ingest"])).is_success
        _wait(lambda: len(_Hook.received) == 2)
        assert _Hook.received[1]["status"] == "resolved" and _Hook.received[1]["value"] == 0.75
        history = httpx.get(f"{server.url}/v1/alerts/history", headers=kit.auth(keys["read"])).json()
        mine = [h for h in history if h["model"] == model]
        assert [h["status"] for h in mine] == ["resolved", "firing"]
        _wait(lambda: [h["deliveries"][0].get("status") for h in httpx.get(
            f"{server.url}/v1/alerts/history", headers=kit.auth(keys["read"])).json() if h["model"] == model] == [204, 204])
        assert mine[0]["deliveries"][0]["url"].endswith("/***")  # a read key sees the webhook masked
        rules = httpx.get(f"{server.url}/v1/models/{model}/alerts", headers=kit.auth(keys["read"])).json()
        assert rules[0]["state"] == "ok"
    finally:
        hook.shutdown()


def test_rule_validation(served, kit, model) -> None:  # noqa: ANN001
    server, keys = served
    url, h = f"{server.url}/v1/models/{model}/alerts", kit.auth(keys["admin"])
    for bad in ({"name": "a", "metric": "nonsense", "threshold": 1}, {"name": "b", "metric": "psi_max", "op": "!=",
                                                                       "threshold": 1},
                {"name": "c", "metric": "psi_max", "threshold": 1, "webhooks": ["file:///etc/passwd"]},
                {"name": "d", "metric": "psi_max", "threshold": 1, "window": "90s"}):
        r = httpx.post(url, json=bad, headers=h)
        assert r.status_code == 422 and "\n" not in r.json()["detail"], r.text
    assert httpx.post(url, json={"name": "e", "metric": "psi_max", "threshold": 1}, headers=kit.auth(keys["read"])
                      ).status_code == 403
