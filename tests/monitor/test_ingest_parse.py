"""Ingest's parsing, pinned below the HTTP layer: the matrix it builds, its refusals, and the content hash.

The feature and probability matrices are converted in one flat pass for speed; these tests hold that
pass to what ``np.asarray`` of the rows gives, and hold the content hash (which decides 200 against 409
for a reused ``batch_id``) to the value stored rows already carry.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mathguard.errors import InputError
from mathguard.monitor.events import EventBatch, parse_batch

NUMBER = st.one_of(st.none(), st.floats(-1e140, 1e140), st.integers(-2**53, 2**53))


def _parse(doc: dict, n_features: int = 3, n_classes: int | None = None) -> EventBatch:
    return parse_batch(doc, n_features=n_features, n_classes=n_classes, now=5000.0, max_events=100, clock_skew=0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda width: st.lists(st.lists(NUMBER, min_size=width, max_size=width),
                                                        min_size=1, max_size=20)))
def test_features_are_the_rows_as_float64_with_nan_for_null(rows: list[list]) -> None:
    width = len(rows[0])
    batch = _parse({"batch_id": "b", "features": rows}, n_features=width)
    expected = np.asarray(rows, dtype=np.float64)
    assert batch.features.dtype == np.float64 and batch.features.flags.c_contiguous
    np.testing.assert_array_equal(batch.features, expected)
    assert np.array_equal(np.signbit(batch.features), np.signbit(expected))  # -0.0 stays -0.0


@pytest.mark.parametrize("rows, message", [
    ([[1.0, 2.0], [3.0]], "features rows must all be lists of 3 numbers"),
    ([[1.0, 2.0, 3.0], [4.0, 5.0]], "features rows must all be lists of 3 numbers"),
    ([[1.0, 2.0]] * 2, "features rows must have 3 values (the model's reference has 3); got 2"),
    ([[]], "features rows must have 3 values (the model's reference has 3); got 0"),
    ([[1.0, 2.0, 3.0], 4.0], "features rows must all be lists of 3 numbers"),
    ([[1.0, [2.0], 3.0]], "features must hold JSON numbers (null for a missing value), not list"),
    ([[1.0, "2", True]], "features must hold JSON numbers (null for a missing value), not bool, str"),
    ([[1.0, 2.0, 2**53 + 1]], "features holds an integer beyond 2^53, which float64 cannot carry exactly"),
    ([], "features must be a non-empty list of rows"),
])
def test_malformed_rows_are_refused_with_one_line(rows: list, message: str) -> None:
    with pytest.raises(InputError) as err:
        _parse({"batch_id": "b", "features": rows})
    assert str(err.value) == message


def test_content_hash_is_the_one_stored_rows_carry() -> None:
    """Values as parsed, shapes, and the timestamps as sent: a change here turns retries of stored batches into
    409s, so the digests are pinned."""
    doc = {"batch_id": "golden", "features": [[0.5, -1.0, None], [2, 3.25, -0.0]], "proba": [[0.25, 0.75], [1.0, 0.0]],
           "labels": [1, None], "alarms": [True, False], "timestamps": [1000.0, "1970-01-01T00:20:00+00:00"]}
    assert _parse(doc, n_classes=2).content_hash == (
        "d745b92095303ecea86b81920a7978a5b6b774f4aea9014b2d8e3a91654fcf55")
    bare = {"batch_id": "golden", "features": doc["features"]}
    assert _parse(bare).content_hash == "51ca2391ab727153fc5c3f873bce131abd11d5a721009758507c6f567244d57e"
