"""`mathguard models` and `mathguard alerts` against a real server (#24): register, list, add and delete rules;
a refusal is one line with the server's reason and exit 2; `serve --allow-private-webhooks` admits loopback hooks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mathguard.cli import main

pytest.importorskip("fastapi")
_spec = importlib.util.spec_from_file_location("monitor_kit", Path(__file__).parents[1] / "monitor" / "conftest.py")
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # noqa: ANN001, ANN201
    db = f"sqlite:///{tmp_path_factory.mktemp('service-cli') / 'm.db'}"
    keys = {s: kit.make_key(db, s) for s in ("admin", "read")}
    srv = kit.Server(db, "--alert-interval", "1s", "--allow-private-webhooks").start()
    yield srv, keys
    srv.stop()


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.output


def test_register_list_and_alerts(server, tmp_path) -> None:  # noqa: ANN001
    srv, keys = server
    ref = tmp_path / "ref.json"
    kit.reference()[2].save(ref)
    admin = ["--url", srv.url, "--key", keys["admin"]]
    code, out = run("models", "register", *admin, "--name", "fraud", "--profile", str(ref), "--label-counts",
                    "1000,2000,1000")
    assert code == 0 and "registered fraud: 6 features, 3 classes" in out, out
    code, out = run("models", "register", *admin, "--name", "fraud", "--profile", str(ref))
    assert code == 2 and out.count("\n") == 1 and "409" in out and "already registered" in out, out
    code, out = run("models", "list", "--url", srv.url, "--key", keys["read"], "--json")
    assert code == 0 and [m["name"] for m in json.loads(out)] == ["fraud"]
    code, out = run("alerts", "add", *admin, "--model", "fraud", "--name", "psi", "--metric", "psi_max", "--op",
                    ">", "--threshold", "0.25", "--window", "1h", "--for", "5m",
                    "--webhook", "http://127.0.0.1:9/hook")  # loopback: admitted by --allow-private-webhooks
    assert code == 0 and "added rule psi on fraud: psi_max > 0.25 over 3600 s, held 300 s" in out, out
    code, out = run("alerts", "add", *admin, "--model", "fraud", "--name", "bad", "--metric", "nonsense",
                    "--threshold", "1")
    assert code == 2 and out.count("\n") == 1 and "unknown metric 'nonsense'" in out, out
    code, out = run("alerts", "list", "--url", srv.url, "--key", keys["read"], "--json")
    rules = json.loads(out)
    assert code == 0 and [(r["model"], r["name"], r["state"]) for r in rules] == [("fraud", "psi", "ok")]
    assert rules[0]["webhooks"] == ["http://127.0.0.1/***"]  # a read key sees masked URLs
    code, out = run("alerts", "list", "--url", srv.url, "--key", keys["read"])
    assert code == 0 and "fraud" in out and "psi_max > 0.25" in out
    code, out = run("alerts", "add", "--url", srv.url, "--key", keys["read"], "--model", "fraud", "--name", "x",
                    "--metric", "events", "--threshold", "1")
    assert code == 2 and "403" in out and "admin" in out
    code, out = run("alerts", "delete", *admin, "--model", "fraud", "--name", "psi")
    assert code == 0
    code, out = run("alerts", "list", "--url", srv.url, "--key", keys["read"], "--model", "fraud")
    assert code == 0 and out.strip() == "no rules"


def test_bad_input_is_exit_2(server, tmp_path) -> None:  # noqa: ANN001
    srv, keys = server
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "mathguard.profile/1"}')
    admin = ["--url", srv.url, "--key", keys["admin"]]
    code, out = run("models", "register", *admin, "--name", "b", "--profile", str(broken))
    assert code == 2 and "422" in out and "profile fields" in out, out
    code, out = run("models", "register", *admin, "--name", "b", "--profile", str(broken), "--label-counts", "a,b")
    assert code == 2 and "--label-counts" in out
    code, out = run("models", "list", "--url", "http://127.0.0.1:9", "--key", "k")
    assert code == 2 and "cannot reach the monitor" in out, out
    code, out = run("models", "list", "--url", srv.url, "--key", "mg_unknown")
    assert code == 2 and "401" in out


def test_serve_refuses_loopback_webhooks_without_the_flag(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    admin = kit.make_key(db, "admin")
    srv = kit.Server(db).start()
    try:
        ref = tmp_path / "ref.json"
        kit.reference()[2].save(ref)
        assert run("models", "register", "--url", srv.url, "--key", admin, "--name", "m", "--profile", str(ref))[0] == 0
        code, out = run("alerts", "add", "--url", srv.url, "--key", admin, "--model", "m", "--name", "r",
                        "--metric", "events", "--threshold", "1", "--webhook", "http://127.0.0.1:9/hook")
        assert code == 2 and "422" in out and "--allow-private-webhooks" in out, out
    finally:
        srv.stop()
