"""The log-bucket sketch: every value lies in its bucket, halves merge into the whole exactly."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mathguard.drift.sketch import LogSketch, bucket_edges, bucket_keys
from mathguard.errors import InputError

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(st.lists(finite, min_size=1, max_size=200), st.integers(0, 12))
@settings(max_examples=200, deadline=None)
def test_every_value_lies_in_its_bucket(values, level):
    x = np.array(values)
    lo, hi = bucket_edges(bucket_keys(x, level), level)
    assert np.all(lo <= x) and np.all(x <= hi)
    assert np.all(lo < hi)


@given(st.lists(finite, min_size=2, max_size=300))
@settings(max_examples=100, deadline=None)
def test_keys_are_monotone_in_the_value(values):
    x = np.sort(np.array(values))
    assert np.all(np.diff(bucket_keys(x, 9)) >= 0)


def _mixed(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.concatenate([rng.normal(size=n), rng.lognormal(5, 3, n), -rng.exponential(size=n // 4),
                           np.zeros(17), [5e-324, -1e-310, 1e300]])


@pytest.mark.parametrize("cut", [1, 1000, 12345])
def test_merge_of_halves_equals_the_whole(cut):
    x = np.random.default_rng(cut).permutation(_mixed(np.random.default_rng(0), 20000))
    whole = LogSketch(max_buckets=2048)
    whole.update(x)
    a, b = LogSketch(max_buckets=2048), LogSketch(max_buckets=2048)
    a.update(x[:cut])
    for chunk in np.array_split(x[cut:], 7):  # streaming in chunks changes nothing either
        b.update(chunk)
    merged = a.merge(b)
    assert merged.level == whole.level < 12  # the cap forced coarsening
    np.testing.assert_array_equal(merged.keys, whole.keys)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    assert len(whole.keys) <= 2048 and whole.n == len(x)


def test_quantiles_within_the_relative_accuracy():
    x = np.random.default_rng(3).lognormal(0, 2, 50000)
    s = LogSketch()
    s.update(x)
    qs = np.linspace(0.01, 0.99, 25)
    rel = np.abs(s.quantile(qs) / np.quantile(x, qs, method="inverted_cdf") - 1)
    assert rel.max() <= 2.0 ** -s.level


def test_round_trip_and_corruption():
    s = LogSketch()
    s.update(np.random.default_rng(4).normal(100, 1, 5000))
    back = LogSketch.from_dict(s.to_dict())
    np.testing.assert_array_equal(back.keys, s.keys)
    np.testing.assert_array_equal(back.counts, s.counts)
    doc = s.to_dict()
    doc["counts"][0] = -1
    with pytest.raises(InputError, match="corrupt sketch"):
        LogSketch.from_dict(doc)
    with pytest.raises(InputError, match="refine"):
        s.at_level(s.level + 1)


def test_round_trip_of_keys_far_apart_in_sign_and_magnitude():
    """At full resolution the keys of -1e300 and 1e300 are ~±2^62 apart: their delta must not wrap in int64."""
    s = LogSketch()
    s.update(np.array([-1e300, -1.5, 0.0, 2.0, 1e300]))
    assert s.level == 52
    back = LogSketch.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_array_equal(back.keys, s.keys)
    np.testing.assert_array_equal(back.counts, s.counts)
    doc = s.to_dict()
    doc["key_deltas"][-1] = 2**70
    with pytest.raises(InputError, match="int64"):
        LogSketch.from_dict(doc)


def test_a_document_whose_keys_span_both_signs_reads_back():
    """The order check compares keys without subtracting them (a difference of ±2^62 keys wraps int64)."""
    import mathguard as mg

    prof = mg.drift.profile(np.array([[-2.5], [2.5], [3.5]]))
    back = mg.drift.Profile.from_dict(json.loads(json.dumps(prof.to_dict())))
    np.testing.assert_array_equal(back.features["x0"].sketch.keys, prof.features["x0"].sketch.keys)
