"""Evaluation and certification sharded over Dask workers give exactly the single-process answers."""

import contextlib
import os
import threading
import time

import numpy as np
import pytest
import torch

import mathguard as mg
from mathguard.errors import InputError

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def setup(digits_tensors, digits_mlp):
    x, y = digits_tensors
    return mg.wrap(digits_mlp().eval(), input_shape=(64,), bounds=(0.0, 1.0)), x[1200:1240], y[1200:1240]


def _same_certificate(a, b):
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_array_equal(a.radius, b.radius)
    np.testing.assert_array_equal(a.p_lower, b.p_lower)


def test_smoothing_radii_and_abstentions_do_not_depend_on_the_split(client, setup):
    clf, x, y = setup
    kw = dict(sigma=0.5, n0=50, n=2_000, batch_size=500, random_state=3)
    alone = mg.certify.smoothing(clf, x[:12], y[:12], **kw)
    assert alone.abstained.any() and (~alone.abstained).any()  # both outcomes are compared
    for size in (1, 5, 12):
        _same_certificate(alone, mg.certify.smoothing(clf, x[:12], y[:12], client=client, shard_size=size, **kw))


def _metrics(report):
    keys = ("clean_accuracy", "robust_accuracy", "robust_accuracy_per_budget_run", "broken_by")
    return {k: report.metrics[k] for k in keys}, sorted(f.id for f in report.all_findings())


def _same_points(a, b):
    assert a.metrics["robust_points"].keys() == b.metrics["robust_points"].keys()
    for e, mask in a.metrics["robust_points"].items():
        np.testing.assert_array_equal(mask, b.metrics["robust_points"][e])


def test_robust_accuracy_and_per_point_outcomes_do_not_depend_on_the_split(client, setup):
    # APGD-CE, APGD-T and Square draw per point, so any split gives the unsharded answer.
    clf, x, y = setup
    kw = dict(eps=[0.05, 0.1], steps=5)
    alone = mg.evaluate_robustness(clf, x, y, **kw)
    assert 0 < alone.metrics["robust_accuracy"][0.05] < alone.metrics["clean_accuracy"]
    assert alone.metrics["broken_by"][0.05].get("APGD", 0) > 0
    for size in (16, 7):
        spread = mg.evaluate_robustness(clf, x, y, client=client, shard_size=size, **kw)
        assert _metrics(spread) == _metrics(alone)
        _same_points(spread, alone)
    _same_points(mg.evaluate_robustness(clf, x, y, shard_size=9, **kw), alone)


def test_a_per_point_deterministic_attack_gives_the_unsharded_answer(client, setup):
    clf, x, y = setup
    kw = dict(eps=[0.05, 0.1], attacks=[mg.attacks.FGSM()], checks=False)
    whole = mg.evaluate_robustness(clf, x, y, **kw)
    assert _metrics(mg.evaluate_robustness(clf, x, y, client=client, shard_size=7, **kw)) == _metrics(whole)


def _kill_a_busy_worker(client, run) -> dict:
    """Start ``run()`` in a thread, kill a worker that holds one of its tasks, return its result."""
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(result=run()))
    worker.start()
    busy = []
    deadline = time.monotonic() + 30
    while not busy and time.monotonic() < deadline:
        busy = [w for w, tasks in client.processing().items() if tasks]
        time.sleep(0.01)
    assert busy, "no task ever started"
    with contextlib.suppress(Exception):  # the worker dies before it can answer
        client.run(os._exit, 1, workers=busy[:1])
    worker.join(timeout=120)
    assert busy[0] not in client.scheduler_info()["workers"]
    return out["result"]


def test_a_worker_killed_mid_certification_is_retried_with_the_same_result(client, setup):
    clf, x, y = setup
    kw = dict(sigma=0.5, n0=50, n=100_000, batch_size=5_000, random_state=1)
    alone = mg.certify.smoothing(clf, x[:8], **kw)
    _same_certificate(alone, _kill_a_busy_worker(
        client, lambda: mg.certify.smoothing(clf, x[:8], client=client, shard_size=2, **kw)))


def test_a_worker_killed_mid_evaluation_is_retried_with_the_same_result(client, setup):
    clf, x, y = setup
    kw = dict(eps=[0.05], steps=40, checks=False)
    alone = mg.evaluate_robustness(clf, x, y, **kw)
    spread = _kill_a_busy_worker(
        client, lambda: mg.evaluate_robustness(clf, x, y, client=client, shard_size=4, **kw))
    assert _metrics(spread) == _metrics(alone)
    _same_points(spread, alone)


def test_a_client_of_the_wrong_type_is_refused(setup):
    clf, x, y = setup
    with pytest.raises(InputError, match="dask.distributed.Client"):
        mg.certify.smoothing(clf, x[:2], client="tcp://localhost:8786")
    with pytest.raises(InputError, match="dask.distributed.Client"):
        mg.evaluate_robustness(clf, x[:2], y[:2], client=object())


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_a_bad_shard_size_is_named(setup, size):
    clf, x, y = setup
    with pytest.raises(InputError, match="shard_size"):
        mg.certify.smoothing(clf, x[:2], shard_size=size)
    with pytest.raises(InputError, match="shard_size"):
        mg.evaluate_robustness(clf, x[:2], y[:2], shard_size=size)
