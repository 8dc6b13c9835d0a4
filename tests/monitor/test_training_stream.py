"""#27: a training run streamed from a real loop to a real server: its findings there, an alert on it, and a
stream that fails without stopping training."""

from __future__ import annotations

import time

import httpx
import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.errors import InputError
from mathguard.monitor import Client
from mathguard.training.stream import RunStream, step_metrics


def _exploding_run(x, y, steps=100, **monitor):  # noqa: ANN001, ANN202
    """SGD at lr 5 on a small ReLU net: the gradient norm peaks > 100x its start (calculus.exploding-gradients)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    return _train(net, torch.optim.SGD(net.parameters(), lr=5.0), x, y, steps, **monitor)


def _train(net, opt, x, y, steps, **monitor):  # noqa: ANN001, ANN202
    """``steps`` batches of 64 in order, each step recorded by a Monitor built with ``monitor``; the Monitor."""
    with mg.training.Monitor(net, opt, **monitor) as mon:
        for step in range(steps):
            idx = torch.arange(step * 64, step * 64 + 64) % len(x)
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            mon.step(loss)
            opt.step()
    return mon


def _wait(condition, timeout=20.0):  # noqa: ANN001, ANN202
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_an_exploding_run_raises_its_finding_on_the_server_and_an_alert(served, model, digits_tensors,
                                                                          tmp_path) -> None:  # noqa: ANN001
    server, keys = served
    x, y = digits_tensors
    with Client(server.url, keys["admin"], model, spool_dir=tmp_path) as admin:
        admin.add_alert("grad-blowup", metric="run.grad_norm_max", op=">", threshold=50.0, window="1h", for_="0s")
    with Client(server.url, keys["ingest"], model, spool_dir=tmp_path) as ingest:
        mon = _exploding_run(x, y, client=ingest, run="lr5", flush_every=16)
    local = {f.id for f in mon.report().findings}
    assert "calculus.exploding-gradients" in local
    with Client(server.url, keys["read"], model, spool_dir=tmp_path) as reader:
        run = reader.run("lr5")
        assert run["steps"] == list(range(100))  # every step, in bounded batches, none twice
        assert run["metrics"]["loss"][0] == pytest.approx(mon.history.loss[0])
        assert run["metrics"]["n_outputs"][0] == 10
        assert "calculus.exploding-gradients" in {f["id"] for f in run["findings"]}
        # the server's rules are the Monitor's: the same findings (at MEDIUM and above) from the streamed series
        assert {f["id"] for f in run["findings"] if f["severity"] in ("medium", "high", "critical")} >= \
            {f.id for f in mon.report().findings if f.id in ("calculus.exploding-gradients", "calculus.divergence")}
        _wait(lambda: next(r for r in reader.alerts() if r["name"] == "grad-blowup")["state"] == "firing")
    history = httpx.get(f"{server.url}/v1/alerts/history", headers={"Authorization": f"Bearer {keys['read']}"}).json()
    fired = next(h for h in history if h["model"] == model and h["rule"] == "grad-blowup")
    assert fired["status"] == "firing" and fired["value"] > 50


def test_a_healthy_run_streams_without_training_findings_or_alert(served, model, digits_tensors, tmp_path) -> None:
    server, keys = served
    x, y = digits_tensors
    with Client(server.url, keys["admin"], model, spool_dir=tmp_path) as admin:
        admin.add_alert("calm", metric="run.grad_norm_max", op=">", threshold=50.0, window="1h", for_="0s")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    with Client(server.url, keys["ingest"], model, spool_dir=tmp_path) as ingest:
        _train(net, torch.optim.Adam(net.parameters(), lr=1e-3), x, y, 60, client=ingest, run="calm")
    with Client(server.url, keys["read"], model, spool_dir=tmp_path) as reader:
        run = reader.run("calm")
        assert len(run["steps"]) == 60 and not [f for f in run["findings"] if f["severity"] != "info"]
        time.sleep(2.5)  # two alert evaluations
        assert next(r for r in reader.alerts() if r["name"] == "calm")["state"] == "ok"


def test_a_nan_step_fires_a_run_rule_instead_of_reading_as_no_data(served, model, tmp_path) -> None:
    server, keys = served
    with Client(server.url, keys["admin"], model, spool_dir=tmp_path) as admin:
        admin.add_alert("nan", metric="run.grad_norm_max", op=">", threshold=1e6, window="1h", for_="0s")
        with Client(server.url, keys["ingest"], model, spool_dir=tmp_path) as ingest:
            ingest.log_steps("r", [{"step": 0, "metrics": {"grad_norm_max": 1.0}},
                                   {"step": 1, "metrics": {"grad_norm_max": float("nan")}}])
        with Client(server.url, keys["read"], model, spool_dir=tmp_path) as reader:
            _wait(lambda: next(r for r in reader.alerts() if r["name"] == "nan")["state"] == "firing")
        with pytest.raises(InputError, match="run.<metric>"):
            admin.add_alert("bad", metric="grad_norm_max", threshold=1.0)


class _Recorder:
    def __init__(self, fail_after: int | None = None) -> None:
        self.batches: list[list[dict]] = []
        self.fail_after = fail_after

    def log_steps(self, run: str, steps: list[dict]) -> dict:
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise InputError("cannot reach the monitor at http://127.0.0.1:9: connection refused")
        self.batches.append(steps)
        return {"run": run, "stored": len(steps), "duplicate": 0}


def test_batches_are_bounded_ordered_and_complete() -> None:
    sink = _Recorder()
    stream = RunStream(sink, "r", flush_every=7, first={"n_outputs": 3.0})
    for step in range(30):
        stream.add(step, {"loss": float(step)})
    stream.close()
    assert [len(b) for b in sink.batches] == [7, 7, 7, 7, 2]
    steps = [item["step"] for batch in sink.batches for item in batch]
    assert steps == list(range(30)) and stream.sent == 30
    assert sink.batches[0][0]["metrics"] == {"n_outputs": 3.0, "loss": 0.0}
    assert "n_outputs" not in sink.batches[0][1]["metrics"]


def test_a_failing_stream_never_stops_training_and_is_a_finding(digits_tensors) -> None:
    x, y = digits_tensors
    sink = _Recorder(fail_after=2)
    mon = _exploding_run(x, y, steps=40, client=sink, run="lost", flush_every=8)
    assert mon.n_steps == 40 and mon.stream.sent == 16
    found = {f.id: f for f in mon.report().findings}
    cut = found["monitor.training.stream-failed"]
    assert cut.evidence["sent_steps"] == 16 and "connection refused" in cut.evidence["error"]


def test_step_metrics_follow_the_convention_the_server_reads() -> None:
    m = step_metrics(1.5, 0.1, [3.0, 4.0], ["a", "b"], [float("nan")] * 2, {})
    assert m == {"loss": 1.5, "grad_norm": 5.0, "grad_norm_max": 4.0, "lr": 0.1,
                 "grad_norm.00.a": 3.0, "grad_norm.01.b": 4.0}
    bad = step_metrics(1.5, float("nan"), [3.0, float("inf")], ["a", "b"], [1e-3, 2e-3], {"relu": 0.5})
    assert bad["grad_norm"] != bad["grad_norm"] and bad["grad_norm_max"] != bad["grad_norm_max"]  # NaN, not 3.0
    assert "lr" not in bad and bad["update_ratio_max"] == 2e-3 and bad["dead_share_max"] == 0.5


@pytest.mark.parametrize("kwargs, message", [
    ({"client": _Recorder()}, "client= and run= go together"),
    ({"run": "r"}, "client= and run= go together"),
    ({"client": _Recorder(), "run": " "}, "run must be a non-empty name"),
    ({"client": _Recorder(), "run": "r", "flush_every": 0}, "flush_every"),
])
def test_bad_stream_arguments_are_refused(kwargs, message) -> None:
    with pytest.raises(InputError, match=message):
        mg.training.Monitor(nn.Linear(3, 2), **kwargs)
