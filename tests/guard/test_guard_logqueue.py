"""Logging never blocks a prediction (issue #23): a bounded queue, a guard-owned thread, counts of what was lost.

No test here measures time: a monitor that is stuck is one that waits on an event the test
sets only after ``predict`` has returned, so a guard that waited for it would fail the test
(after the monitor's own 30 s safety timeout), not merely run slowly.
"""

import threading

import numpy as np
import pytest
import torch
from torch import nn

import mathguard as mg


@pytest.fixture(scope="module")
def clf():
    torch.manual_seed(0)
    return mg.wrap(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval(), input_shape=(4,))


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).normal(size=(10, 4))


class Stuck:
    """A monitor whose log() hangs until released (at most 30 s), like a client retrying a dead server."""

    def __init__(self) -> None:
        self.release, self.entered, self.calls = threading.Event(), threading.Event(), []

    def log(self, features, proba, labels=None, alarms=None):
        self.entered.set()
        self.release.wait(30)
        self.calls.append(len(features))


class Spooling:
    """The mg.monitor.Client contract with the server down: log() buffers, flush() answers the unsent count."""

    def __init__(self) -> None:
        self.rows, self.flushes = 0, 0

    def log(self, features, proba, labels=None, alarms=None):
        self.rows += len(features)

    def flush(self):
        self.flushes += 1
        return 3


def test_a_stuck_monitor_does_not_hold_up_predict(clf, x):
    # before: predict called monitor.log itself and waited for it (4.6 -> 24 s per call, monitor down)
    monitor = Stuck()
    guard = mg.Guard(clf, monitor=monitor)
    out = guard.predict(x)
    assert monitor.entered.wait(30)  # the thread is inside log() now
    out2 = guard.predict(x)  # and predictions still go on
    assert not monitor.release.is_set() and monitor.calls == []  # log() had not returned for either call
    np.testing.assert_array_equal(out.labels, out2.labels)
    assert guard.log_counts.queued_rows == 20
    monitor.release.set()
    counts = guard.close()
    assert monitor.calls == [10, 10] and counts.logged_rows == 20 and counts.healthy


def test_a_full_queue_drops_and_counts(clf, x):
    monitor = Stuck()
    guard = mg.Guard(clf, monitor=monitor, max_queued_rows=30)
    guard.predict(x)
    assert monitor.entered.wait(30)  # the first 10 rows are inside log(): they still count against the bound
    for _ in range(3):
        guard.predict(x)  # 10 + 10 more fit, the third call's 10 do not
    counts = guard.log_counts
    assert counts.queued_rows == 30 and counts.dropped_rows == 10
    monitor.release.set()
    counts = guard.close()
    assert counts.logged_rows == 30 and counts.dropped_rows == 10 and counts.queued_rows == 0
    rep = guard.report()
    assert rep.metrics["monitor_dropped_rows"] == 10 and rep.metrics["monitor_logged_rows"] == 30
    (finding,) = [f for f in rep.findings if f.id == "monitor.logging-failed"]
    assert "10 rows dropped" in finding.title


def test_close_gives_up_after_its_timeout_and_counts_what_was_left(clf, x):
    monitor = Stuck()
    guard = mg.Guard(clf, monitor=monitor)
    guard.predict(x)
    assert monitor.entered.wait(30)
    guard.predict(x)
    counts = guard.close(timeout=0)
    assert counts.dropped_rows == 10  # the second call's rows never reached the monitor
    assert counts.queued_rows == 10  # the first call's are still inside log()
    monitor.release.set()
    counts = guard.flush()
    assert counts.logged_rows == 10 and counts.queued_rows == 0  # the call in flight still finished


def test_unsent_batches_in_the_clients_spool_are_counted(clf, x):
    # before: the client spooled every batch and monitor_errors stayed 0
    monitor = Spooling()
    with mg.Guard(clf, monitor=monitor) as guard:
        guard.predict(x)
    assert monitor.rows == 10 and monitor.flushes == 1
    counts = guard.log_counts
    assert counts.spooled_batches == 3 and counts.errors == 1 and not counts.healthy
    rep = guard.report()
    assert rep.metrics["monitor_spooled_batches"] == 3 and rep.metrics["monitor_errors"] == 1
    assert "monitor.logging-failed" in [f.id for f in rep.findings]


def test_the_monitor_is_flushed_while_traffic_flows(clf, x):
    monitor = Spooling()
    guard = mg.Guard(clf, monitor=monitor, flush_interval=0)
    guard.predict(x)
    guard.flush()
    assert monitor.flushes >= 1 and guard.log_counts.logged_rows == 10
    guard.close()


def test_the_guard_works_after_close(clf, x):
    monitor = Spooling()
    guard = mg.Guard(clf, monitor=monitor)
    guard.close()
    guard.predict(x)
    guard.close()
    assert monitor.rows == 10
    assert mg.Guard(clf).close() == mg.guard.LogCounts()  # no monitor, nothing to count


def test_a_monitor_without_log_is_one_input_error(clf):
    with pytest.raises(mg.InputError, match="monitor must have a log"):
        mg.Guard(clf, monitor=object())
    with pytest.raises(mg.InputError, match="^max_rows must be an integer at least 1"):
        mg.guard.LogQueue(Spooling(), max_rows=0)
    with pytest.raises(mg.InputError, match="^max_queued_rows must be an integer at least 1"):
        mg.Guard(clf, max_queued_rows=0)
