"""Cut sketches (#28): with its cache, the worker profiles a fold's events with sketches cut at the levels of the
stored window they are merged into (levels above 0), instead of searching the finer levels first. Merged, they give the very
bytes the uncut profile gives, into that window and into any window grown from it (a window's levels only fall
as it grows); into a window with finer sketches they would not, which is why a row written anew meanwhile gets
its partial profiled again uncut (tests/monitor/test_fold_cache.py replays that)."""

from __future__ import annotations

import importlib

import numpy as np
import orjson
import pandas as pd
import pytest

import mathguard as mg
from mathguard.drift.frames import iter_frames
from mathguard.drift.profile import stream_profile
from mathguard.monitor.windows import WINDOW_BUCKETS, Levels, no_finer, cut_levels

NAMES = [f"x{i}" for i in range(6)]


def _data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Awkward columns: NaN, a constant, -0.0, integers, values over many binades, a far offset."""
    x = rng.normal(size=(n, 6)) * rng.choice([1e-3, 1.0, 1e6]) + rng.normal()
    x[rng.random(size=(n, 6)) < 0.03] = np.nan
    x[:, 1] = 2.5
    x[::7, 2] = -0.0
    x[:, 3] = rng.integers(0, 4, n)
    x[:, 4] = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-300, 140, n)
    x[:, 5] = 1e6 + rng.normal(size=n)
    return x, rng.dirichlet(np.ones(3) * rng.choice([0.2, 1.0]), size=n)


def _profile(x: np.ndarray, proba: np.ndarray, cut: Levels | None = None) -> mg.drift.Profile:
    """As ``partial_windows`` profiles a window's events, uncut or cut."""
    frame = pd.DataFrame(x, columns=NAMES)
    if cut is None:
        return mg.drift.profile(frame, proba, max_buckets=WINDOW_BUCKETS, sample_size=0)
    return stream_profile(iter_frames(frame), proba, categorical=(), columns=None, max_buckets=WINDOW_BUCKETS,
                          max_categories=1000, sample_size=0, levels=cut[0], entropy_level=cut[1])


def _doc(prof: mg.drift.Profile) -> bytes:
    return orjson.dumps(prof.to_dict())


@pytest.mark.parametrize("seed", range(12))
def test_a_cut_partial_merges_as_the_uncut_one(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if seed % 2:  # streams of several chunks
        monkeypatch.setattr(importlib.import_module("mathguard.drift.frames"), "DEFAULT_CHUNK", 700)
    rng = np.random.default_rng(seed)
    window = _profile(*_data(rng, int(rng.integers(1, 5000))))
    for _ in range(5):
        x, proba = _data(rng, int(rng.integers(1, 5000)))
        cut = cut_levels(window)
        partial, uncut = _profile(x, proba, cut), _profile(x, proba)
        assert _doc(window + partial) == _doc(window + uncut)
        grown = window + _profile(*_data(rng, int(rng.integers(1, 3000))))  # another process folded meanwhile
        assert no_finer(grown, cut)
        assert _doc(grown + partial) == _doc(grown + uncut)
        window = window + uncut
    levels = [f.sketch.level for f in window.features.values()]
    assert min(levels) <= 0 and 0 < levels[0] < 52  # bucket limits reached, at level 0 and below too


def test_a_cut_partial_does_not_merge_into_finer_sketches_alike() -> None:
    rng = np.random.default_rng(9)
    big = _profile(*_data(rng, 20_000))
    x, proba = _data(rng, 3000)
    fresh = _profile(*_data(rng, 20))  # a row written anew from a few events
    cut = cut_levels(big)
    assert not no_finer(fresh, cut)
    assert _doc(fresh + _profile(x, proba, cut)) != _doc(fresh + _profile(x, proba))
