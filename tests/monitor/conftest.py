"""Real servers for the monitor's tests: uvicorn in a subprocess on loopback, SQLite or a throwaway PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

import mathguard as mg
from mathguard.monitor.pgtemp import PostgresCluster, free_port

pytest.importorskip("fastapi")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
N_FEATURES, N_CLASSES = 6, 3


@pytest.fixture(scope="session")
def kit():  # noqa: ANN201
    """This module's helpers (Server, make_key, reference, auth, ...) for the test modules."""
    return sys.modules[__name__]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 binaries are not installed")
    cluster = PostgresCluster(PG_BIN)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, empty database of each kind (one per test module)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('monitor') / 'monitor.db'}"
    return request.getfixturevalue("pg_cluster").new_database()


class Server:
    """``mathguard serve`` in a subprocess (so it can be killed with SIGKILL), on a free loopback port."""

    def __init__(self, db: str, *options: str, env: dict[str, str] | None = None,
                 settings: dict | None = None) -> None:
        """``options`` go to ``mathguard serve``; with ``settings`` the app is built from ``Settings(**settings)``
        instead (for limits the CLI has no option for)."""
        self.db, self.options, self.port, self.env, self.settings = db, options, free_port(), env, settings
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Server":
        cmd = [sys.executable, "-c", "from mathguard.cli import main; main()", "serve", "--db", self.db,
               "--port", str(self.port), *self.options]
        if self.settings is not None:
            cmd = [sys.executable, "-c", _APP, json.dumps({"db": self.db, **self.settings}), str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env={**os.environ, **(self.env or {})})
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not come up in 60 s")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


_APP = """
import json, sys, uvicorn
from mathguard.monitor import Settings, create_app
uvicorn.run(create_app(Settings(**json.loads(sys.argv[1]))), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def make_key(db: str, scopes: str) -> str:
    from mathguard.monitor.store import Store

    store = Store(db)
    store.migrate()
    try:
        return store.create_key("test-" + scopes, scopes)
    finally:
        store.close()


def reference(seed: int = 0, n: int = 4000) -> tuple[np.ndarray, np.ndarray, mg.drift.Profile]:
    """Reference features, probabilities and their profile."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES))
    p = rng.dirichlet(np.ones(N_CLASSES), size=n)
    return x, p, mg.drift.profile(x, p)


@pytest.fixture(scope="module")
def served(db_url: str) -> Iterator[tuple[Server, dict[str, str]]]:
    """A running server on a fresh database (shared by a module's tests), with one key per scope."""
    keys = {s: make_key(db_url, s) for s in ("admin", "ingest", "read")}
    # The tests' webhook receivers listen on loopback, which the service refuses unless the operator allows it.
    server = Server(db_url, "--alert-interval", "1s", "--max-batch-events", "5000", "--max-body-mb", "2",
                    env={"MATHGUARD_ALLOW_PRIVATE_WEBHOOKS": "1"}).start()
    yield server, keys
    server.stop()


def register(server: Server, admin_key: str, name: str | None = None) -> str:
    """Register a model (reference from ``reference()``) under a fresh name; the name."""
    name = name or "m-" + uuid.uuid4().hex[:8]
    r = httpx.post(server.url + "/v1/models", json={"name": name, "profile": reference()[2].to_dict()},
                   headers=auth(admin_key))
    assert r.status_code == 201, r.text
    return name


@pytest.fixture
def model(served: tuple[Server, dict[str, str]]) -> str:
    """A freshly registered model on the shared server."""
    return register(served[0], served[1]["admin"])


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
