"""A stateful fuzz of the service (hypothesis state machine) against a real server on SQLite: valid and hostile
registrations, ingest with extreme floats and odd types, rules with odd thresholds, deletes and kill -9 restarts,
mixed at random. After every step: no 5xx, every healthy model has folded all it acknowledged, acknowledged events
are stored exactly once, the dashboard answers."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule, \
    run_state_machine_as_test

HOSTILE_VALUES = [1e308, -1e308, 1e300, 1e200, 1e155, -1e154, 1e147, "1.5", "nan", True, None, 2**63]
EXTREME_THRESHOLDS = ["NaN", "Infinity", "-Infinity", "1e999", '"0.5"', "true", "1e308", "-0.0"]


@pytest.fixture(scope="module", params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Server errors and isolation do not depend on the database here: SQLite alone keeps the run short."""
    return f"sqlite:///{tmp_path_factory.mktemp('stateful') / 'monitor.db'}"


def test_stateful_fuzz_keeps_the_service_whole(db_url, kit) -> None:  # noqa: ANN001
    keys = {s: kit.make_key(db_url, s) for s in ("admin", "ingest", "read")}
    steps: list[str] = []  # which rules ran, so the test knows it exercised the service
    server = kit.Server(db_url, settings={"fold_interval_s": 0.05, "alert_interval_s": 0.2, "max_batch_events": 500,
                                          "retention_s": None}).start()

    class Service(RuleBasedStateMachine):
        models = Bundle("models")

        def __init__(self) -> None:
            super().__init__()
            self.acked: dict[str, int] = {}
            self.kills = 0
            self.http = httpx.Client(base_url=server.url, timeout=30)

        def teardown(self) -> None:
            self.http.close()

        def call(self, method: str, path: str, key: str, **kw) -> httpx.Response:  # noqa: ANN003
            import inspect

            steps.append(inspect.stack()[1].function)
            r = self.http.request(method, path, headers={"Authorization": f"Bearer {keys[key]}",
                                                         **kw.pop("headers", {})}, **kw)
            assert r.status_code < 500, (method, path, r.status_code, r.text[:500])
            if r.status_code >= 400:
                detail = r.json()["detail"]
                assert isinstance(detail, str) and detail and "\n" not in detail, r.text[:300]
            return r

        # -------------------------------------------------------------- models
        @initialize(target=models)
        def first(self) -> str:
            return self.register_good()

        @rule(target=models)
        def register_good(self) -> str:
            name = "m-" + uuid.uuid4().hex[:8]
            r = self.call("POST", "/v1/models", "admin", json={"name": name, "profile": kit.reference(n=300)[2].to_dict()})
            assert r.status_code == 201, r.text
            self.acked[name] = 0
            return name

        @rule(field=st.sampled_from(["n_rows", "n_classes", "features", "features.x0.min", "features.x0.mean",
                                     "features.x0.m2", "features.x1.n", "sample", "entropy"]),
              value=st.sampled_from([-5, 0, 10**6, None, "NaN", 1e308, {}, [], True, 1e200]))
        def register_hostile(self, field: str, value) -> None:  # noqa: ANN001
            doc = kit.reference(n=300)[2].to_dict()
            *parents, last = field.split(".")
            node = doc
            for part in parents:
                node = node[part]
            node[last] = value
            r = self.call("POST", "/v1/models", "admin", json={"name": "h-" + uuid.uuid4().hex[:8], "profile": doc})
            assert r.status_code == 422, (field, value, r.text[:300])

        # -------------------------------------------------------------- events
        @rule(model=models, n=st.integers(1, 40), seed=st.integers(0, 2**16))
        def ingest(self, model: str, n: int, seed: int) -> None:
            rng = np.random.default_rng(seed)
            body = {"batch_id": uuid.uuid4().hex, "features": (rng.normal(size=(n, kit.N_FEATURES)) * 10).tolist(),
                    "proba": rng.dirichlet(np.ones(kit.N_CLASSES), size=n).tolist(),
                    "labels": rng.integers(0, kit.N_CLASSES, size=n).tolist()}
            r = self.call("POST", f"/v1/models/{model}/events", "ingest", json=body)
            assert r.status_code == 201, r.text
            self.acked[model] += n
            again = self.call("POST", f"/v1/models/{model}/events", "ingest", json=body)  # a retry
            assert again.status_code == 200 and again.json()["duplicate"] is True

        @rule(model=models, value=st.sampled_from(HOSTILE_VALUES), row=st.integers(0, 9), col=st.integers(0, 5),
              where=st.sampled_from(["features", "labels", "batch_id", "timestamps"]))
        def ingest_hostile(self, model: str, value, row: int, col: int, where: str) -> None:  # noqa: ANN001
            rng = np.random.default_rng(row)
            body = {"batch_id": uuid.uuid4().hex, "features": rng.normal(size=(10, kit.N_FEATURES)).tolist(),
                    "proba": rng.dirichlet(np.ones(kit.N_CLASSES), size=10).tolist()}
            if where == "features":
                body["features"][row][col] = value
            elif where == "labels":
                body["labels"] = [0] * 10
                body["labels"][row] = value if value is not None else -1
            elif where == "batch_id":
                body["batch_id"] = "x\u0000" + str(value)
            else:
                body["timestamps"] = [time.time()] * 10
                body["timestamps"][row] = value if value is not None else "1e999"
            r = self.call("POST", f"/v1/models/{model}/events", "ingest",
                          content=json.dumps(body).encode(), headers={"content-type": "application/json"})
            if r.status_code == 201:  # only values the math can carry get in (e.g. 1e147 is refused, 1.5 is fine)
                self.acked[model] += 10
            else:
                assert r.status_code in (400, 422), r.text

        # -------------------------------------------------------------- rules
        @rule(model=models, threshold=st.sampled_from(EXTREME_THRESHOLDS), metric=st.sampled_from(["events", "psi_max"]),
              window=st.sampled_from(["1h", "999999999999d", "0s", "2h"]))
        def add_rule(self, model: str, threshold: str, metric: str, window: str) -> None:
            body = f'{{"name": "r-{uuid.uuid4().hex[:6]}", "metric": "{metric}", "threshold": {threshold}, ' \
                   f'"window": "{window}", "webhooks": ["https://hooks.example.com/x"]}}'
            self.call("POST", f"/v1/models/{model}/alerts", "admin", content=body.encode(),
                      headers={"content-type": "application/json"})

        @rule(model=models)
        def delete_rules(self, model: str) -> None:
            for r in self.call("GET", f"/v1/models/{model}/alerts", "read").json():
                assert self.call("DELETE", f"/v1/models/{model}/alerts/{r['name']}", "admin").status_code == 204

        @precondition(lambda self: self.kills < 2)
        @rule()
        def kill_and_restart(self) -> None:
            self.kills += 1
            steps.append("kill_and_restart")
            server.kill()
            server.start()

        # -------------------------------------------------------------- after every step
        @invariant()
        def whole(self) -> None:
            deadline = time.time() + 30
            while True:
                stats = {m: self.call("GET", f"/v1/models/{m}/stats", "read").json() for m in self.acked}
                if all(s["pending_events"] == 0 for s in stats.values()) or time.time() > deadline:
                    break
                time.sleep(0.05)
            for m, s in stats.items():
                assert s["events"] == self.acked[m], (m, s, self.acked[m])  # stored exactly once
                assert s["pending_events"] == 0 and s["profiled_events"] == s["events"], (m, s)  # still folding
            assert self.call("GET", "/v1/dashboard", "read").status_code == 200
            health = self.http.get("/healthz")
            assert health.status_code == 200 and health.json()["failed_models"] == [], health.text

    try:
        run_state_machine_as_test(Service, settings=settings(
            max_examples=4, stateful_step_count=12, deadline=None, database=None, derandomize=True,
            suppress_health_check=list(HealthCheck)))
    finally:
        server.stop()
    ran = set(steps)
    assert len(steps) > 40 and {"register_good", "whole"} <= ran and len(ran) >= 6, sorted(ran)
