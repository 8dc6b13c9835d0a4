"""The faster drift paths of #28 give bit-identical results to the code they replaced.

``LogSketch.update`` histograms new values at the level the sketch will reach instead of one
bucket per distinct float; the reference below is the replaced algorithm, kept verbatim.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mathguard.drift.sketch import LogSketch, _runs, bucket_keys


def _old_update(sketch: LogSketch, values: np.ndarray) -> None:
    """LogSketch.update before #28: all values absorbed at the sketch's level, then coarsened."""
    if values.size == 0:
        return
    keys = np.sort(bucket_keys(values, sketch.level))
    sketch._absorb(*_runs(keys, np.ones(len(keys), dtype=np.int64)))


def _same(a: LogSketch, b: LogSketch) -> None:
    assert a.level == b.level
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.keys.dtype == b.keys.dtype == np.int64 and a.counts.dtype == b.counts.dtype == np.int64


def _stream(chunks: list[np.ndarray], max_buckets: int) -> None:
    new, old = LogSketch(max_buckets), LogSketch(max_buckets)
    for c in chunks:
        new.update(c)
        _old_update(old, c)
        _same(new, old)


def _data(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(size=n)
    if kind == "mixed":
        return np.concatenate([rng.normal(size=n), rng.lognormal(5, 3, n), -rng.exponential(size=n // 4),
                               np.zeros(17), [-0.0, 5e-324, -5e-324, -1e-310, 1e300, -1e300]])
    if kind == "ints":
        return rng.integers(-50, 50, n).astype(np.float64)
    if kind == "narrow":  # tiny spread against the magnitude: the sketch stays fine
        return 1e6 + rng.normal(size=n)
    if kind == "constant":
        return np.full(n, 3.25)
    if kind == "wide":  # every exponent: more level-0 buckets than a small sketch holds
        return np.ldexp(rng.uniform(1, 2, n), rng.integers(-1070, 1020, n)) * rng.choice([-1, 1], n)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["normal", "mixed", "ints", "narrow", "constant", "wide"])
@pytest.mark.parametrize("max_buckets", [16, 64, 4096])
def test_sketch_update_equals_the_replaced_algorithm(kind, max_buckets):
    rng = np.random.default_rng(len(kind) * 7 + max_buckets)
    x = _data(kind, rng, 20000)
    rng.shuffle(x)
    _stream(np.array_split(x, [1, 3000, 3001, 12000]), max_buckets)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=300),
       st.lists(st.integers(0, 300), max_size=4), st.integers(16, 300))
@settings(max_examples=300, deadline=None)
def test_sketch_update_equals_the_replaced_algorithm_on_any_floats(values, cuts, max_buckets):
    x = np.array(values)
    _stream(np.split(x, sorted(set(min(c, len(x)) for c in cuts))), max_buckets)


# ---------------------------------------------------------------- the row sample
import pandas as pd  # noqa: E402

import mathguard as mg  # noqa: E402
from mathguard.drift.accumulators import RowSample, combine_row_hashes  # noqa: E402
from mathguard.drift.profile import _sample_view  # noqa: E402


def _odd_frame(n: int, seed: int) -> pd.DataFrame:
    """Every kind of column the sample stores: floats with NaN/±inf/-0.0, ints, bools, strings, mixed objects."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.01] = -0.0
    x[:3] = [np.inf, -np.inf, 0.0]
    return pd.DataFrame({
        "x": x,
        "i": rng.integers(-3, 3, n),
        "f32": rng.normal(size=n).astype(np.float32),
        "b": rng.random(n) < 0.3,
        "s": rng.choice(["a", "b", "c", None], n),
        "o": pd.Series(rng.choice([1, 2.0, "z", None], n), dtype=object),
        "dup": np.repeat(rng.normal(size=(n + 9) // 10), 10)[:n],
    })


def test_row_hashes_combine_as_pandas_does():
    frame = _sample_view(_odd_frame(500, 1), mg.drift.profile(_odd_frame(500, 1), categorical=["i"]).features)
    cols = [pd.util.hash_array(frame[c]._values) for c in frame.columns]
    np.testing.assert_array_equal(combine_row_hashes(cols), pd.util.hash_pandas_object(frame, index=False).to_numpy())


@pytest.mark.parametrize("chunk", [None, 97, 1000])
@pytest.mark.parametrize("size", [0, 1, 50, 5000])
def test_profile_sample_equals_the_replaced_path(chunk, size):
    """The sample built from per-column hashes and only the kept rows equals hashing and converting whole chunks."""
    frame = pd.concat([_odd_frame(1500, 2), _odd_frame(700, 2)], ignore_index=True)  # repeated rows: equal hashes
    prof = mg.drift.profile(frame, categorical=["i"], chunk_size=chunk, sample_size=size)
    old = RowSample(size)
    step = chunk or len(frame)
    for start in range(0, len(frame), step):
        old.update(_sample_view(frame.iloc[start:start + step], prof.features))
    np.testing.assert_array_equal(prof.sample.hashes, old.hashes)
    pd.testing.assert_frame_equal(prof.sample.rows, old.rows, check_exact=True)
    assert prof.sample.to_dict() == old.to_dict()
