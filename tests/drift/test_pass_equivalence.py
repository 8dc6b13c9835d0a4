"""The cheaper pass over a batch (#28) computes the same integers and floats as the code it replaced.

Bucket keys are signed by two's-complement arithmetic instead of a masked ``np.negative``; float
columns are hashed in place instead of by ``pd.util.hash_array``; the current batch's sketches start
at the reference's level instead of full resolution. Each is checked here against the replaced form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mathguard as mg
from mathguard.drift.accumulators import hash_floats
from mathguard.drift.sketch import LogSketch, bucket_keys

_ODD = [0.0, -0.0, 5e-324, -5e-324, -1e-310, 1e300, -1e300, 1.5, -1.5, 2.0 ** 52, -(2.0 ** -1022)]


def _old_keys(values: np.ndarray, level: int) -> np.ndarray:
    """bucket_keys before #28's pass: the sign applied with a masked np.negative."""
    keys = values.view(np.int64) & np.int64(0x7FFF_FFFF_FFFF_FFFF)
    keys >>= 52 - level
    np.negative(keys, out=keys, where=np.signbit(values))
    return keys


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=200),
       st.integers(0, 52))
@settings(max_examples=300, deadline=None)
def test_bucket_keys_equal_the_masked_negation(values, level):
    x = np.array(values + _ODD)
    np.testing.assert_array_equal(bucket_keys(x, level), _old_keys(x, level))
    out, sign = np.empty(len(x), np.int64), np.empty(len(x), np.int64)
    np.testing.assert_array_equal(bucket_keys(x, level, out, sign), _old_keys(x, level))


def test_hash_floats_equals_pandas():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=5000), _ODD, [np.inf, -np.inf, np.nan, -np.nan]])
    x = np.concatenate([x, np.frombuffer(np.array([0x7FF8_0000_0000_0001, 0xFFF0_0000_0000_0002],
                                                  dtype=np.uint64).tobytes())])  # NaNs with payloads
    rng.shuffle(x)
    for part in (x, x[:3], x[:0], x[::3]):
        np.testing.assert_array_equal(hash_floats(part, np.empty(len(part), np.uint64)), pd.util.hash_array(part))


def _kinds(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {"normal": rng.normal(size=n), "lognormal": rng.lognormal(5, 3, n),
            "ints": rng.integers(-50, 50, n).astype(np.float64), "narrow": 1e6 + rng.normal(size=n),
            "constant": np.full(n, 3.25), "mixed": np.concatenate([rng.normal(size=n - 11), _ODD])}


@pytest.mark.parametrize("max_buckets", [16, 256, 4096])
@pytest.mark.parametrize("cap", [0, 3, 7, 20, 30, 52])
def test_capped_sketch_ends_at_the_same_buckets(max_buckets, cap):
    """A sketch started at level ``cap`` equals the full-resolution one brought down to ``cap`` (or below)."""
    rng = np.random.default_rng(max_buckets + cap)
    for name, x in _kinds(rng, 9000).items():
        full, capped = LogSketch(max_buckets), LogSketch(max_buckets, cap)
        for chunk in np.array_split(x, [1, 2500, 2501, 7000]):
            full.update(chunk)
            capped.update(chunk)
        expect = full.at_level(min(cap, full.level))
        assert capped.level == expect.level, name
        np.testing.assert_array_equal(capped.keys, expect.keys)
        np.testing.assert_array_equal(capped.counts, expect.counts)


def test_compare_reads_capped_sketches_as_full_ones():
    """compare(profile, batch) reports what compare(profile, profile(batch)) does: same numbers, findings, order."""
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"a": rng.normal(size=6000), "b": rng.lognormal(size=6000), "c": rng.choice(list("xyz"), 6000)})
    cur = pd.DataFrame({"a": rng.normal(0.2, 1.1, 5000), "b": 1e6 + rng.normal(size=5000), "c": rng.choice(list("xy"), 5000)})
    proba_ref, proba_cur = rng.dirichlet([1, 2], 6000), rng.dirichlet([2, 1], 5000)
    prof = mg.drift.profile(ref, proba_ref, chunk_size=1000)
    direct = mg.drift.compare(prof, cur, proba_cur, chunk_size=1000)
    via = mg.drift.compare(prof, mg.drift.profile(cur, proba_cur, chunk_size=1000))
    assert repr(direct.metrics) == repr(via.metrics)
    assert [f.id for f in direct.findings] == [f.id for f in via.findings]


# ---------------------------------------------------------------- sums of squares without the BLAS threads
from threadpoolctl import threadpool_info  # noqa: E402

from mathguard.drift.blas import one_thread_dots, split_sum_of_squares  # noqa: E402


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_split_sums_of_squares_are_the_blas_own():
    rng = np.random.default_rng(7)
    vectors = [rng.normal(size=n) * rng.uniform(0.01, 100) + rng.uniform(-1, 1)
               for n in (1, 10_000, 10_001, 20_000, 65_537, 262_143, 262_144, 1_000_003) for _ in range(6)]
    expect = [float(v @ v) for v in vectors]
    before = _blas_threads()
    with one_thread_dots() as parts:
        with one_thread_dots() as inner:  # nested (and concurrent) passes share the limit and the split
            assert inner == parts
        got = [split_sum_of_squares(v, parts) for v in vectors]
    assert got == expect
    assert _blas_threads() == before  # the limit ends with the pass


def test_profile_moments_as_the_blas_computes_them():
    """m2 of a long column equals the centred dot product the BLAS gives outside the pass."""
    x = np.random.default_rng(8).normal(size=300_000) * 3 + 1
    feat = mg.drift.profile(pd.DataFrame({"x": x}), chunk_size=300_000).features["x"]
    centred = x - float(x.mean())
    assert feat.m2 == float(centred @ centred)
