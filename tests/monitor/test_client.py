"""mg.monitor.Client: batching, spooling while the server is down, resending from a new process, no duplicates."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from mathguard.errors import InputError
from mathguard.monitor import Client


def test_client_spools_while_server_is_down_and_delivers_once(served, kit, model, tmp_path) -> None:  # noqa: ANN001
    server, keys = served
    rng = np.random.default_rng(3)
    x, p = rng.normal(size=(250, kit.N_FEATURES)), rng.dirichlet(np.ones(kit.N_CLASSES), size=250)
    server.stop()
    client = Client(server.url, keys["ingest"], model, batch_size=100, spool_dir=tmp_path, retries=1, backoff=0.01)
    client.log(x[:120], p[:120])  # over a batch: cut into 100 + 20, sent at once, fails, stays spooled
    client.log(x[120:], p[120:], labels=p[120:].argmax(axis=1))  # 130 labelled events: 100 + 30
    assert client.flush() == 4 and len(list(tmp_path.glob("*.json"))) == 4
    client.close()
    server.start()
    again = Client(server.url, keys["ingest"], model, batch_size=100, spool_dir=tmp_path)  # a new process, say
    assert again.flush() == 0 and not list(tmp_path.glob("*.json"))
    stats = httpx.get(f"{server.url}/v1/models/{model}/stats", headers=kit.auth(keys["read"])).json()
    assert stats["events"] == 250 and stats["batches"] == 4
    again.log(x[:5], p[:5])
    again.close()
    stats = httpx.get(f"{server.url}/v1/models/{model}/stats", headers=kit.auth(keys["read"])).json()
    assert stats["events"] == 255


def test_client_raises_on_rejected_batch(served, kit, model, tmp_path) -> None:  # noqa: ANN001
    server, keys = served
    with Client(server.url, keys["ingest"], model, spool_dir=tmp_path) as client:
        client.log(np.zeros((3, kit.N_FEATURES + 1)), np.full((3, kit.N_CLASSES), 1 / kit.N_CLASSES))
        with pytest.raises(InputError, match="values"):
            client.flush()
    assert list((tmp_path / "rejected").glob("*.json"))


def test_clients_sharing_a_spool_deliver_every_batch_once(served, kit, model, tmp_path) -> None:  # noqa: ANN001
    import threading

    server, keys = served
    rng = np.random.default_rng(4)
    errors: list[BaseException] = []

    def log_many(seed: int) -> None:
        try:
            with Client(server.url, keys["ingest"], model, batch_size=5, spool_dir=tmp_path) as client:
                for _ in range(20):
                    client.log(rng.normal(size=(5, kit.N_FEATURES)), np.full((5, kit.N_CLASSES), 1 / kit.N_CLASSES))
        except BaseException as exc:  # noqa: BLE001 (any failure in a thread fails the test)
            errors.append(exc)

    threads = [threading.Thread(target=log_many, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert not list(tmp_path.glob("*.json")) and not (tmp_path / "rejected").exists()
    stats = httpx.get(f"{server.url}/v1/models/{model}/stats", headers=kit.auth(keys["read"])).json()
    assert stats["events"] == 4 * 20 * 5 and stats["batches"] == 4 * 20


def test_refusals_that_can_be_mended_stay_spooled(served, kit, model, tmp_path) -> None:  # noqa: ANN001
    server, keys = served
    x, p = np.zeros((3, kit.N_FEATURES)), np.full((3, kit.N_CLASSES), 1 / kit.N_CLASSES)
    client = Client(server.url, "mg_revoked-or-mistyped", model, spool_dir=tmp_path)
    client.log(x, p)
    with pytest.raises(InputError, match="401"):
        client.flush()
    with pytest.raises(InputError, match="stays in"):
        client.close()  # closing tries once more, says so, and still closes the connection
    unknown = Client(server.url, keys["ingest"], "not-registered-yet", spool_dir=tmp_path / "later")
    unknown.log(x, p)
    with pytest.raises(InputError, match="404"):
        unknown.flush()
    unknown._http.close()
    assert len(list(tmp_path.glob("*.json"))) == 1 and not (tmp_path / "rejected").exists()
    assert len(list((tmp_path / "later").glob("*.json"))) == 1 and not (tmp_path / "later" / "rejected").exists()
    with Client(server.url, keys["ingest"], model, spool_dir=tmp_path) as fixed:  # the right key now
        assert fixed.flush() == 0
    assert not list(tmp_path.glob("*.json"))
    stats = httpx.get(f"{server.url}/v1/models/{model}/stats", headers=kit.auth(keys["read"])).json()
    assert stats["events"] == 3
