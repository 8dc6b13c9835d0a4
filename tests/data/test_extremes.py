"""Matrices float64 cannot audit are refused with an InputError, not a crash (issue #11)."""

import numpy as np
import pytest

from mathguard.data.audit import audit_data
from mathguard.errors import InputError

X = np.random.default_rng(0).normal(size=(200, 4))


@pytest.mark.parametrize("M, message", [
    (np.ones((50, 3)), "constant"),
    (X * 1e300, "too large"),
    (X * 1e200, "too large"),
    (X * 1e-300, "constant"),
])
def test_unauditable_matrices_are_input_errors(M, message):
    with pytest.raises(InputError, match=message):
        audit_data(M, figures=False)


def test_large_but_squarable_values_are_audited():
    rep = audit_data(X * 1e150, figures=False)
    assert rep.metrics["rank"] == 4

