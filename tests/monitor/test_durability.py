"""kill -9 during sustained ingest from concurrent clients: every acknowledged batch is stored exactly once."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np

CLIENTS, BATCHES, EVENTS = 4, 40, 100


def _sender(kit, server, key: str, model: str, worker: int, acked: list[str], stop: threading.Event) -> None:  # noqa: ANN001
    """Send BATCHES batches; each is retried with the same id until the server acknowledges it."""
    rng = np.random.default_rng(worker)
    with httpx.Client(timeout=5, headers=kit.auth(key)) as http:
        for i in range(BATCHES):
            body = {"batch_id": f"w{worker}-{i}", "features": rng.normal(size=(EVENTS, kit.N_FEATURES)).tolist(),
                    "proba": rng.dirichlet(np.ones(kit.N_CLASSES), size=EVENTS).tolist()}
            while not stop.is_set():
                try:
                    r = http.post(f"{server.url}/v1/models/{model}/events", json=body)
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                if r.is_success:
                    acked.append(body["batch_id"])
                    break
                time.sleep(0.05)


def test_kill_9_loses_no_acknowledged_batch_and_retries_add_no_duplicates(db_url, served, kit) -> None:  # noqa: ANN001
    server, keys = served
    model = kit.register(server, keys["admin"])
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_sender, args=(kit, server, keys["ingest"], model, w, acked, stop))
               for w in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(acked) < CLIENTS * BATCHES // 3 and time.time() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL mid-ingest: requests in flight get no answer and are retried
    at_kill = set(acked)
    assert 0 < len(at_kill) < CLIENTS * BATCHES
    server.start()  # same database, same port
    for t in threads:
        t.join(timeout=120)
    stop.set()
    assert len(set(acked)) == CLIENTS * BATCHES
    from mathguard.monitor import schema
    from mathguard.monitor.store import Store

    store = Store(db_url)
    try:
        with store.reader.connect() as conn:
            rows = conn.execute(schema.batches.select().where(
                schema.batches.c.model_id == store.model(model).id)).all()
    finally:
        store.close()
    ids = [r.batch_id for r in rows]
    assert len(ids) == len(set(ids)) == CLIENTS * BATCHES  # each exactly once, acknowledged before the kill or after
    assert at_kill <= set(ids)
    assert all(r.n_events == EVENTS for r in rows)
    stats = httpx.get(f"{server.url}/v1/models/{model}/stats", headers=kit.auth(keys["read"])).json()
    assert stats["events"] == CLIENTS * BATCHES * EVENTS
