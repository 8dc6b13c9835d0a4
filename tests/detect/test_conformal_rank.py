"""One k for the conformal threshold and for the test of its promise (issue #22: 400 (n, fpr) pairs
disagreed; n=9, fpr=0.3 put the threshold at k=8 while the fpr-not-met test assumed k=7)."""

import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import betabinom

from mathguard.detect.conformal import conformal_rank, conformal_threshold
from mathguard.detect.evaluate import _false_alarm_finding


def test_n9_fpr03_threshold_is_the_eighth_score_and_the_test_uses_it():
    assert conformal_rank(9, 0.3) == 8
    assert conformal_threshold(np.arange(1.0, 10.0), 0.3) == 8.0
    det = SimpleNamespace(n_calibration=9, fpr=0.3)
    flagged = np.zeros(50, dtype=bool)
    flagged[:30] = True  # far above 30 %: the finding fires and reports the law of k = 8
    found = _false_alarm_finding("d", det, flagged, alpha=0.5)
    assert found is not None
    assert found.evidence["p_value"] == pytest.approx(float(betabinom.sf(29, 50, 10 - 8, 8)))


@given(st.integers(1, 500), st.floats(0.001, 0.999))
@settings(max_examples=300, deadline=None)
def test_the_threshold_rank_is_the_exact_ceiling(n, fpr):
    if Fraction(fpr) * (n + 1) < 1:  # unreachable with n scores: refused (tested elsewhere)
        return
    k = conformal_rank(n, fpr)
    scores = np.arange(1.0, n + 1.0)
    assert conformal_threshold(scores, fpr) == float(k)
    assert k - 1 < (1 - fpr) * (n + 1) + 1e-9 and k >= math.floor((1 - fpr) * (n + 1))
