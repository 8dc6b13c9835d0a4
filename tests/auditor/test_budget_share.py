"""The planner spends the budget it was given: what earlier lenses left is split among the heavy lenses still to
run (#24: 14.6 s of a 90 s budget used, and the attack still cut to 20 of 171 points)."""

import pytest

from mathguard.auditor.budget import SHARES, Plan


def test_heavy_lenses_split_what_is_left():
    plan = Plan(100.0)
    plan.started -= 10  # ten seconds already spent by the cheap lenses
    plan.pending = ["adversarial", "certified", "detectors"]
    heavy = sum(SHARES.values())
    assert plan.share("adversarial") == pytest.approx((90 - 5) * SHARES["adversarial"] / heavy, abs=0.1)
    plan.pending = ["certified", "detectors"]
    assert plan.share("certified") == pytest.approx(85 * 0.15 / 0.40, abs=0.1)
    plan.pending = ["detectors"]
    assert plan.share("detectors") == pytest.approx(85, abs=0.1)  # the last heavy lens may use all but the reserve


def test_without_a_budget_there_is_no_limit():
    assert Plan(None).share("adversarial") == float("inf")
