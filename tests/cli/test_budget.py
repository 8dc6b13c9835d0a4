"""--budget on the long commands (#24): the pilot arithmetic, and each command cutting honestly."""

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mathguard.cli import budget


class FakeClock:
    """A run of k points 'takes' fixed + k * per seconds on this clock."""

    def __init__(self, fixed: float, per: float) -> None:
        self.now, self.fixed, self.per, self.calls = 0.0, fixed, per, []

    def __call__(self) -> float:
        return self.now

    def run(self, k: int) -> None:
        self.calls.append(k)
        self.now += self.fixed + k * self.per


@settings(max_examples=60, deadline=None)
@given(fixed=st.floats(0.0, 20.0), per=st.floats(0.01, 5.0), total=st.integers(1, 5000),
       seconds=st.floats(1.0, 3600.0), pilot=st.integers(1, 16))
def test_the_pilots_plus_the_run_fit_the_budget_and_use_it(fixed, per, total, seconds, pilot):
    clock = FakeClock(fixed, per)
    with mock.patch.object(budget.time, "perf_counter", clock):
        n = budget.points_within(seconds, clock.run, total, pilot=pilot)
    assert 1 <= n <= total
    spent_on_pilots = clock.now
    if len(clock.calls) == 1:  # total <= pilot: the pilot was the whole job
        assert n == total
        return
    full_run = fixed + n * per
    if n > 1:  # the final run fits what the pilots left (float rounding aside)
        assert spent_on_pilots + full_run <= seconds + 1e-6 * seconds
    if n < total:  # and one more point would not have fitted: the budget is spent, not wasted
        assert spent_on_pilots + full_run + per > seconds - 1e-6 * seconds


def test_timer_noise_never_overruns(monkeypatch):
    """A second pilot no slower than the first (noise): per point = the second pilot's mean, an overestimate."""
    times = iter([0.0, 5.0, 9.0])  # pilot 1 took 5 s, pilot 2 (twice the points) 4 s
    monkeypatch.setattr(budget.time, "perf_counter", lambda: next(times))
    n = budget.points_within(100.0, lambda k: None, 1000, pilot=4)
    assert n == int((100 - 9 - (5 - 4 * 0.5)) / 0.5)


@pytest.mark.parametrize("command", ["robustness", "detect", "certify"])
def test_each_long_command_takes_budget(command):
    from click.testing import CliRunner

    from mathguard.cli import main

    res = CliRunner().invoke(main, [command, "--help"])
    assert "--budget" in res.output
