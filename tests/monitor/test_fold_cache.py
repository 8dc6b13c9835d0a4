"""Folding with the worker's WindowCache (#28): a window's profile is merged from the object this process wrote,
not parsed from the row, and summarised from the merged object; the rows stored are byte-equal to those of a
fold that parses every document. Why that is sound: a profile's document reads back as the very same object
(types, dtypes and bits), and merging or summarising changes none of its inputs."""

from __future__ import annotations

import copy
import dataclasses
import struct
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import sqlalchemy as sa

import mathguard as mg
from mathguard.monitor import schema as t
from mathguard.monitor import windows
from mathguard.monitor.events import parse_batch, to_blob
from mathguard.monitor.quality import Quality, merge_moments, moments_from_dict, moments_to_dict
from mathguard.monitor.store import Model, Store
from mathguard.monitor.windows import Counts, load_profile, partial_windows, summarize
from mathguard.monitor.worker import WindowCache

H = 3600
BASE = 1_700_000_000 // H * H


def state_diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two objects differ in type, dtype, shape or bits (floats by their bytes: -0.0 and NaN too)."""
    if type(a) is not type(b):
        return [f"{path}: {type(a).__name__} vs {type(b).__name__}"]
    if dataclasses.is_dataclass(a):
        return [d for f in dataclasses.fields(a) for d in state_diff(getattr(a, f.name), getattr(b, f.name),
                                                                     f"{path}.{f.name}")]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{path}: keys"]
        return [d for k in a for d in state_diff(a[k], b[k], f"{path}[{k!r}]")]
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in state_diff(x, y, f"{path}[{i}]")]
    if isinstance(a, np.ndarray):
        same = a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        return [] if same else [f"{path}: array {a.dtype}{a.shape} vs {b.dtype}{b.shape}"]
    if isinstance(a, pd.DataFrame):
        same = (a.shape == b.shape and type(a.columns) is type(b.columns) and a.columns.equals(b.columns)
                and type(a.index) is type(b.index) and a.index.equals(b.index) and a.dtypes.equals(b.dtypes)
                and a.equals(b))
        return [] if same else [f"{path}: frame"]
    if isinstance(a, float):
        return [] if struct.pack("<d", a) == struct.pack("<d", b) else [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def _model(reference: mg.drift.Profile, model_id: int = 1) -> Model:
    return Model(model_id, f"m{model_id}", len(reference.features), reference.n_classes,
                 orjson.dumps(reference.to_dict()).decode(), 0.0)


def _row(x: np.ndarray, proba: np.ndarray | None = None, labels: np.ndarray | None = None,
         alarms: np.ndarray | None = None, hours: np.ndarray | None = None) -> SimpleNamespace:
    """A batch row as the worker reads it."""
    ts = BASE + (np.zeros(len(x)) if hours is None else hours) * H + np.arange(len(x)) % 997
    return SimpleNamespace(features=to_blob(x), proba=to_blob(proba), labels=to_blob(labels, "<i8"),
                           alarms=to_blob(alarms, "u1"), timestamps=to_blob(ts), n_events=len(x))


def _features(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Awkward columns: NaN, a constant, -0.0, integers, huge and tiny magnitudes, values over many binades."""
    x = rng.normal(size=(n, d)) * rng.choice([1e-3, 1.0, 1e6])
    x[rng.random(size=(n, d)) < 0.03] = np.nan
    x[:, 1] = 2.5
    x[::7, 2] = -0.0
    x[:, 3] = rng.integers(0, 4, n)
    x[:, 4] = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-300, 140, n)
    return x


def _partials(seed: int) -> list[tuple[Model, windows.Partial]]:
    """Window partials of two models (with classes, labels and alarms; without classes, probabilities of the
    batch's own width), several windows each, plus one window with no finite value in a feature."""
    rng = np.random.default_rng(seed)
    with_classes = _model(mg.drift.profile(rng.normal(size=(2000, 6)), rng.dirichlet(np.ones(3), size=2000)))
    without = _model(mg.drift.profile(rng.normal(size=(2000, 6))), 2)
    out = []
    for _ in range(3):
        n = int(rng.integers(1, 6000))
        hours = rng.integers(0, 3, n)
        rows = [_row(_features(rng, n, 6), rng.dirichlet(np.ones(3) * 0.5, size=n), rng.integers(-1, 3, n),
                     rng.integers(0, 2, n).astype(np.uint8), hours)]
        out += [(with_classes, p) for p in partial_windows(with_classes, rows, H, 5).values()]
        rows = [_row(_features(rng, n, 6), rng.dirichlet(np.ones(2), size=n), hours=hours)]
        out += [(without, p) for p in partial_windows(without, rows, H, 6).values()]
    x = _features(rng, 40, 6)
    x[:, 0] = np.nan
    out += [(without, p) for p in partial_windows(without, [_row(x)], H, 0).values()]  # no moments, no quality
    return out


def _read_back(prof: mg.drift.Profile) -> mg.drift.Profile:
    return load_profile(orjson.dumps(prof.to_dict()).decode())


def _summary(model: Model, prof: mg.drift.Profile, part: windows.Partial) -> bytes:
    return orjson.dumps(summarize(model.reference, prof, part.counts, part.quality, part.moments, model))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_profile_document_reads_back_as_the_same_object(seed: int) -> None:
    merged: dict[int, tuple[Model, mg.drift.Profile]] = {}
    for model, part in _partials(seed):
        for prof in (part.profile, *([merged[model.id][1] + part.profile] if model.id in merged else [])):
            back = _read_back(prof)
            assert state_diff(prof, back) == []
            assert orjson.dumps(back.to_dict()) == orjson.dumps(prof.to_dict())
            assert _summary(model, prof, part) == _summary(model, back, part)
            merged[model.id] = (model, prof)
        if part.moments is not None:
            back = moments_from_dict(orjson.loads(orjson.dumps(moments_to_dict(part.moments))))
            assert state_diff(part.moments, back) == []
        if part.quality.confusion.size:
            quality = Quality.from_dict(orjson.loads(orjson.dumps(part.quality.to_dict())))
            assert state_diff(part.quality, quality) == []


def test_an_empty_confusion_matrix_reads_back() -> None:
    """A window without probabilities stores the empty quality; it must read back (it failed on 0 × 0, and with it
    every later fold of a features-only model's window)."""
    assert state_diff(Quality.from_dict(orjson.loads(orjson.dumps(Quality().to_dict()))), Quality()) == []


@pytest.mark.parametrize("seed", [3, 4])
def test_merging_and_summarising_change_no_input(seed: int) -> None:
    parts = _partials(seed)
    for (model, a), (other, b) in zip(parts, parts[1:]):
        before = copy.deepcopy((a, b))
        if model.id == other.id:
            merged = a.profile + b.profile
            summarize(model.reference, merged, a.counts + b.counts, a.quality + b.quality,
                      merge_moments(a.moments, b.moments), model)
            merge_moments(b.moments, a.moments)
            b.quality + a.quality
        summarize(model.reference, a.profile, a.counts, a.quality, a.moments, model)
        assert state_diff(before, (a, b)) == []


def _light(row_id: int, n_events: int, quality: str = "q", moments: str | None = "m") -> SimpleNamespace:
    return SimpleNamespace(id=row_id, model_id=1, resolution=H, start=BASE, n_events=n_events, quality=quality,
                           moments=moments)


M = SimpleNamespace(created_at=1.0)


def test_the_cache_serves_only_the_row_as_written() -> None:
    prof = _partials(5)[0][1].profile
    cache = WindowCache(entries=2)
    cache.put(M, _light(1, 10), prof)
    assert cache.get(M, _light(1, 10)) is prof
    assert cache.get(M, _light(1, 11)) is None  # another process folded events in
    assert cache.get(M, _light(1, 10)) is None  # dropped on the mismatch
    cache.put(M, _light(1, 10), prof)
    assert cache.get(M, _light(1, 10, quality="q2")) is None and cache.get(M, _light(1, 10, moments=None)) is None
    assert cache.get(M, _light(2, 10)) is None
    cache.put(M, _light(1, 10), prof)  # the model deleted and registered again under the same ids
    assert cache.get(SimpleNamespace(created_at=M.created_at + 1), _light(1, 10)) is None
    for i in range(3, 6):
        cache.put(M, _light(i, 10), prof)
    assert len(cache) == 2 and cache.get(M, _light(3, 10)) is None and cache.get(M, _light(5, 10)) is prof
    small = WindowCache(max_bytes=1)
    small.put(M, _light(1, 10), prof)
    assert len(small) == 0


# ------------------------------------------------------------------------------------------------ stored rows
@pytest.fixture(params=["sqlite", "postgresql"])
def two_dbs(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    if request.param == "sqlite":
        return [f"sqlite:///{tmp_path / name}.db" for name in ("cached", "parsed")]
    cluster = request.getfixturevalue("pg_cluster")
    return [cluster.new_database(), cluster.new_database()]


class Replay:
    """One database folded in many steps, by this process (with or without a cache) and by another one."""

    def __init__(self, db: str, cache: WindowCache | None) -> None:
        self.store, self.other, self.cache = Store(db), Store(db), cache
        self.store.migrate()
        self.rng = np.random.default_rng(7)
        ref = mg.drift.profile(self.rng.normal(size=(2000, 6)), self.rng.dirichlet(np.ones(3), size=2000))
        self.models = [self.store.register_model("classes", ref, 10),
                       self.store.register_model("none", mg.drift.profile(self.rng.normal(size=(2000, 6))), 10),
                       self.store.register_model("features-only", mg.drift.profile(self.rng.normal(size=(2000, 6))),
                                                 10)]
        self.errors: list[str] = []
        self.interfere: int | None = None
        self.n = 0

    def insert(self, model: Model, n: int, hour: int) -> str:
        self.n += 1
        x = _features(self.rng, n, 6)
        x[:, 4] = np.clip(x[:, 4], -1e140, 1e140)
        doc: dict[str, Any] = {"batch_id": f"b{self.n}", "features": np.where(np.isnan(x), None, x).tolist(),
                               "timestamps": (BASE + hour * H + self.rng.integers(0, 2 * H, n)).tolist()}
        if model.name == "classes":
            doc.update(proba=self.rng.dirichlet(np.ones(3), size=n).tolist(), alarms=[bool(v) for v in
                                                                                     self.rng.random(n) < 0.2],
                       labels=[int(v) if v >= 0 else None for v in self.rng.integers(-1, 3, n)])
        elif model.name == "none":
            doc["proba"] = self.rng.dirichlet(np.ones(2), size=n).tolist()
        batch = parse_batch(doc, n_features=6, n_classes=model.n_classes, now=BASE + 99 * H, max_events=10_000,
                            clock_skew=300, resolution=H, max_windows=48)
        assert self.store.insert_batch(model, batch, BASE)
        return batch.batch_id

    def other_fold(self, model: Model, hour: int) -> None:
        """Another process folds a batch of its own into ``model``'s window now."""
        batch_id = self.insert(model, 31, hour)
        with self.other.reader.connect() as conn:
            rows = conn.execute(sa.select(t.batches).where(t.batches.c.batch_id == batch_id)).all()
        windows.fold_model(self.other, model, rows, H, 4)

    def reset(self, model: Model, hour: int) -> None:
        """The window's row is deleted and written anew by another process, from a few events (finer sketches)."""
        with self.other.engine.begin() as conn:
            conn.execute(t.windows.delete().where(t.windows.c.model_id == model.id,
                                                  t.windows.c.start == BASE + hour * H))
        self.other_fold(model, hour)

    def summarise(self, model: Model, start: int) -> bool:
        if self.interfere is not None and model.name == "classes":  # between the fold's read and its write
            (hour, reset), self.interfere = self.interfere, None
            (self.reset if reset else self.other_fold)(model, hour)
        return (start // H + self.n) % 3 != 0

    def step(self, i: int) -> None:
        hour = i // 8
        for model in self.models:  # the first model's windows pass the sketches' bucket limit
            for _ in range(int(self.rng.integers(0, 3))):
                self.insert(model, int(self.rng.integers(1, 1500 if model is self.models[0] else 300)), hour)
        if i % 5 == 2:
            self.other_fold(self.models[0], hour)
        if i % 7 == 3:
            windows.fold_pending(self.other, H, linalg_features=4, on_error=lambda m, e: None)
        if i % 3 == 1:
            self.interfere = (hour, i % 2 == 0)
        if i % 10 == 6:
            self.reset(self.models[0], hour)
        windows.fold_pending(self.store, H, linalg_features=4, summarise=self.summarise, cache=self.cache,
                             on_error=lambda m, e: self.errors.append(f"{m.name}: {e!r}"))
        self.interfere = None

    def rows(self) -> list[dict[str, Any]]:
        with self.store.reader.connect() as conn:
            rows = conn.execute(sa.select(t.windows).order_by(t.windows.c.id)).all()
            unfolded = conn.execute(sa.select(t.batches.c.batch_id).where(t.batches.c.folded.is_(False))).all()
        return [dict(r._mapping) for r in rows] + [{"unfolded": sorted(r[0] for r in unfolded)}]

    def close(self) -> None:
        self.store.close()
        self.other.close()


def test_a_cached_fold_stores_what_a_parsing_fold_stores(two_dbs: list[str], monkeypatch) -> None:  # noqa: ANN001
    """Also with the new events' sketches cut at the stored window's levels (with the cache), and with rows
    changed or written anew by another process between folds and between a fold's read and its write."""
    parsed_docs: list[str] = []
    load, partial = windows.load_profile, windows.partial_windows
    monkeypatch.setattr(windows, "load_profile", lambda doc: parsed_docs.append(doc) or load(doc))
    uncut: list[int] = []  # folds whose partials were profiled again, uncut, for a row written anew
    monkeypatch.setattr(windows, "partial_windows", lambda *a: (len(a) == 4 and uncut.append(1)) or partial(*a))
    runs = {}
    served: list[bool] = []  # per lookup of a stored row in the cache: did it hold the row as stored
    get = WindowCache.get
    monkeypatch.setattr(WindowCache, "get", lambda self, *a: served.append((p := get(self, *a)) is not None) or p)
    for db, cache in zip(two_dbs, (WindowCache(), None)):
        replay = Replay(db, cache)
        parsed_docs.clear()
        for i in range(30):
            replay.step(i)
        runs[cache is not None] = (replay.rows(), replay.errors, len(parsed_docs))
        if cache is not None:
            classes = replay.models[0]
            with replay.store.reader.connect() as conn:
                stored = conn.execute(sa.select(t.windows).where(t.windows.c.model_id == classes.id)).all()
            for row in stored:  # each current summary is the one a from-scratch compare of the row gives
                if row.drift_events == row.n_events:
                    expected = summarize(classes.reference, load(row.profile), Counts.of(row),
                                         windows.row_quality(row), windows.row_moments(row), classes)
                    assert row.drift == orjson.dumps(expected).decode()
        replay.close()
    (cached, cached_errors, cached_parses), (parsed, parsed_errors, parses) = runs[True], runs[False]
    assert len(cached) == len(parsed) > 8
    for a, b in zip(cached, parsed):
        assert a == b
    assert cached_errors == parsed_errors == []
    # The cache served most lookups of stored rows (misses: the rows the other process changed), and parsed less.
    assert sum(served) > len(served) / 2 and cached_parses < parses
    assert uncut  # a cut partial met a row written anew with finer sketches
