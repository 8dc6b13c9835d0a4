"""Drift verdicts that used to be silently wrong (issue #11): constant references, tiny samples, proba."""

import numpy as np
import pytest

from mathguard.drift import compare, profile
from mathguard.errors import InputError
from mathguard.report import Severity

RNG = np.random.default_rng(0)


def test_a_constant_reference_column_against_noise_is_major_drift():
    rep = compare(np.zeros((500, 1)), RNG.normal(size=(500, 1)), multivariate=False)
    assert rep.metrics["verdict"] == "major drift"
    assert rep.metrics["features"]["x0"]["psi"] > 1
    same = compare(np.full((500, 1), 3.0), np.full((500, 1), 3.0), multivariate=False)
    assert same.metrics["verdict"] == "no drift"


@pytest.mark.parametrize("n_ref, n_cur", [(500, 1), (1, 500), (20, 20)])
def test_too_few_rows_is_insufficient_data_never_no_drift(n_ref, n_cur):
    rep = compare(RNG.normal(size=(n_ref, 3)), RNG.normal(size=(n_cur, 3)), multivariate=False)
    assert rep.metrics["verdict"] != "no drift"
    found = [f for f in rep.findings if f.id == "info.insufficient-data"]
    assert len(found) == 1 and found[0].severity >= Severity.HIGH
    assert rep.gate("high") == 1


def test_enough_rows_have_no_insufficient_data_finding():
    rep = compare(RNG.normal(size=(300, 3)), RNG.normal(size=(300, 3)), multivariate=False)
    assert not [f for f in rep.findings if f.id == "info.insufficient-data"]


def _proba(n: int, k: int) -> np.ndarray:
    p = RNG.random((n, k))
    return p / p.sum(axis=1, keepdims=True)


def test_proba_without_reference_predictions_is_an_input_error():
    ref = RNG.normal(size=(200, 2))
    with pytest.raises(InputError, match="reference has no predictions"):
        compare(ref, RNG.normal(size=(200, 2)), proba=_proba(200, 3), multivariate=False)
    with pytest.raises(InputError, match="reference has no predictions"):
        compare(profile(ref), RNG.normal(size=(200, 2)), proba=_proba(200, 3), multivariate=False)


def test_class_count_mismatch_is_an_input_error():
    ref = profile(RNG.normal(size=(200, 2)), _proba(200, 2))
    with pytest.raises(InputError, match="3 classes but the reference has 2"):
        compare(ref, RNG.normal(size=(200, 2)), proba=_proba(200, 3), multivariate=False)


def test_values_whose_squares_overflow_are_refused_naming_the_column():
    with pytest.raises(InputError, match="column 'x1'.*too large"):
        profile(np.column_stack([RNG.normal(size=100), RNG.normal(size=100) * 1e300]))


def test_a_binary_file_as_profile_is_an_input_error(tmp_path):
    from mathguard.drift import Profile

    path = tmp_path / "p.json"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(InputError, match="not UTF-8"):
        Profile.load(path)
