"""Drift summaries stored at fold time (#28): a query at the resolution reads them, and they are the numbers a
from-scratch compare of the same stored windows gives, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import sqlalchemy as sa

import mathguard as mg
from mathguard.monitor import schema as t
from mathguard.monitor import series, windows
from mathguard.monitor.events import parse_batch
from mathguard.monitor.quality import Quality, moments_from_dict
from mathguard.monitor.store import Store
from mathguard.monitor.series import drift_series
from mathguard.monitor.windows import Counts, fold_pending, summarize

HOUR = 3600
BASE = 1_700_000_000 // HOUR * HOUR


@pytest.fixture
def store(db_url: str):  # noqa: ANN201
    s = Store(db_url)
    s.migrate()
    yield s
    s.close()


def _insert(store: Store, model, kit, batch_id: str, hour: int, rng: np.random.Generator,  # noqa: ANN001
            shift: float = 0.0, n: int = 200) -> None:
    x = rng.normal(size=(n, kit.N_FEATURES))
    x[:, 2] += shift
    p = rng.dirichlet(np.ones(kit.N_CLASSES), size=n)
    labels = [int(v) if i % 3 else None for i, v in enumerate(p.argmax(axis=1))]
    doc = {"batch_id": batch_id, "features": x.tolist(), "proba": p.tolist(), "labels": labels,
           "alarms": [i % 7 == 0 for i in range(n)], "timestamps": [BASE + hour * HOUR + i for i in range(n)]}
    batch = parse_batch(doc, n_features=kit.N_FEATURES, n_classes=kit.N_CLASSES, now=BASE + 10 * HOUR,
                        max_events=10_000, clock_skew=300, feature_names=[f"x{i}" for i in range(kit.N_FEATURES)])
    assert store.insert_batch(model, batch, BASE)


def _from_scratch(model, row) -> dict:  # noqa: ANN001
    """What the query computed from a stored window before summaries were stored at fold time."""
    summary = summarize(model.reference, mg.drift.Profile.from_dict(orjson.loads(row.profile)), Counts.of(row),
                        Quality.from_dict(orjson.loads(row.quality)),
                        moments_from_dict(orjson.loads(row.moments)) if row.moments else None, model)
    return orjson.loads(orjson.dumps(summary))


def test_stored_summaries_equal_a_from_scratch_compare(store: Store, kit, monkeypatch) -> None:  # noqa: ANN001
    rng = np.random.default_rng(3)
    model = store.register_model("sums", kit.reference()[2], 10)
    for hour, shift in enumerate([0.0, 0.0, 0.8, 2.0]):
        _insert(store, model, kit, f"a{hour}", hour, rng, shift)
    assert fold_pending(store, HOUR) == 800
    _insert(store, model, kit, "late", 1, rng, 1.0)  # a second fold into a stored window: merged, re-summarised
    assert fold_pending(store, HOUR) == 200
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(t.windows).where(t.windows.c.model_id == model.id)
                            .order_by(t.windows.c.start)).all()
    assert [r.n_events for r in rows] == [200, 400, 200, 200]
    assert all(r.drift is not None and r.drift_events == r.n_events for r in rows)  # stored when folded

    def no_profiles(_doc: str) -> None:
        raise AssertionError("a query at the resolution read a window profile")

    with monkeypatch.context() as patch:  # the query reads stored summaries only
        patch.setattr(series, "load_profile", no_profiles)
        answer = drift_series(store, model, window=HOUR, resolution=HOUR, start=BASE, end=BASE + 4 * HOUR)
    assert [w["start"] for w in answer] == [BASE + i * HOUR for i in range(4)]
    for row, window in zip(rows, answer):
        expected = _from_scratch(model, row)
        assert {k: v for k, v in window.items() if k not in ("start", "end")} == expected
        report = mg.drift.compare(model.reference, mg.drift.Profile.from_dict(orjson.loads(row.profile)),
                                  multivariate=False)
        assert report.metrics["verdict"] == window["verdict"]
        for name, f in report.metrics["features"].items():
            assert window["features"][name]["psi"] == round(float(f["psi"]), 6)
    assert answer[0]["verdict"] == "no drift" and answer[3]["verdict"] == "major drift"


def test_windows_without_a_stored_summary_are_summarised_by_the_query(store: Store, kit) -> None:  # noqa: ANN001
    rng = np.random.default_rng(4)
    model = store.register_model("old", kit.reference()[2], 10)
    for hour in range(3):
        _insert(store, model, kit, f"b{hour}", hour, rng, 0.5 * hour)
    fold_pending(store, HOUR)
    with store.engine.begin() as conn:  # as folded before summaries were stored with the window
        conn.execute(t.windows.update().where(t.windows.c.model_id == model.id, t.windows.c.start == BASE + HOUR)
                     .values(drift=None, drift_events=None))
    answer = drift_series(store, model, window=HOUR, resolution=HOUR, start=BASE, end=BASE + 3 * HOUR)
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(t.windows).where(t.windows.c.model_id == model.id)
                            .order_by(t.windows.c.start)).all()
    assert all(r.drift_events == r.n_events for r in rows)  # the query stored what it computed
    for row, window in zip(rows, answer):
        assert {k: v for k, v in window.items() if k not in ("start", "end")} == _from_scratch(model, row)
    wide = drift_series(store, model, window=86400, resolution=HOUR, start=BASE - 86400, end=BASE + 3 * HOUR)
    assert sum(w["events"] for w in wide) == 600  # wider windows merge the stored profiles


def test_a_declined_summary_keeps_the_old_one_marked_outdated(store: Store, kit) -> None:  # noqa: ANN001
    """The worker declines re-summarising a window summarised moments ago: the row keeps its old summary, which
    no query serves (its event count is behind), and the query or the refresh duty computes the current one."""
    rng = np.random.default_rng(5)
    model = store.register_model("busy", kit.reference()[2], 10)
    _insert(store, model, kit, "c0", 0, rng)
    fold_pending(store, HOUR)
    _insert(store, model, kit, "c1", 0, rng, 1.5)
    asked: list[int] = []
    fold_pending(store, HOUR, summarise=lambda m, start: asked.append(start) or False)
    assert asked == [BASE]
    with store.reader.connect() as conn:
        row = conn.execute(sa.select(t.windows).where(t.windows.c.model_id == model.id)).one()
    assert row.n_events == 400 and row.drift_events == 200 and orjson.loads(row.drift)["events"] == 200
    assert series.refresh_stale(store, {model.id: model}, HOUR, limit=2, skip={(model.id, BASE)}) == []
    [window] = drift_series(store, model, window=HOUR, resolution=HOUR, start=BASE, end=BASE + HOUR)
    with store.reader.connect() as conn:
        row = conn.execute(sa.select(t.windows).where(t.windows.c.model_id == model.id)).one()
    assert window["events"] == 400 and row.drift_events == 400
    assert {k: v for k, v in window.items() if k not in ("start", "end")} == _from_scratch(model, row)


def test_a_backfill_is_folded_in_transactions_of_a_few_windows(store: Store, kit, monkeypatch) -> None:  # noqa: ANN001
    rng = np.random.default_rng(6)
    model = store.register_model("backfill", kit.reference()[2], 10)
    for hour in range(7):
        _insert(store, model, kit, f"h{hour}", hour, rng, n=40)
    calls: list[int] = []
    fold = windows.fold_model
    monkeypatch.setattr(windows, "FOLD_WINDOWS", 3)
    monkeypatch.setattr(windows, "fold_model", lambda s, m, rows, *a: calls.append(len(rows)) or fold(s, m, rows, *a))
    assert fold_pending(store, HOUR) == 280
    assert calls == [3, 3, 1]
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(t.windows).where(t.windows.c.model_id == model.id)).all()
    assert len(rows) == 7 and all(r.drift_events == r.n_events == 40 for r in rows)


def test_a_failing_summary_is_reported_and_the_window_still_folded(store: Store, kit, monkeypatch,  # noqa: ANN001
                                                                   db_url: str) -> None:
    from mathguard.monitor.config import Settings
    from mathguard.monitor.metrics import Metrics
    from mathguard.monitor.worker import Worker

    rng = np.random.default_rng(7)
    model = store.register_model("flaky", kit.reference()[2], 10)
    _insert(store, model, kit, "f0", 0, rng)
    worker = Worker(store, Settings(db=db_url), Metrics(store, HOUR))
    real = windows.summarize

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("summary broke")

    monkeypatch.setattr(windows, "summarize", broken)  # when folding
    monkeypatch.setattr(series, "summarize", broken)  # and when the refresh duty retries
    worker.step(now=BASE + 10 * HOUR)
    [failure] = worker.failures_of(model.id)
    assert failure["stage"] == "summary" and "summary broke" in failure["error"]
    assert store.stats(model)["profiled_events"] == 200  # folded all the same
    monkeypatch.setattr(windows, "summarize", real)
    monkeypatch.setattr(series, "summarize", real)
    worker.step(now=failure["retry_at"] + 1)  # the refresh duty retries after the back-off, and heals
    assert worker.failures_of(model.id) == []
    with store.reader.connect() as conn:
        row = conn.execute(sa.select(t.windows).where(t.windows.c.model_id == model.id)).one()
    assert row.drift_events == row.n_events == 200


def test_a_features_only_model_folds_every_batch_of_a_window(store: Store, kit) -> None:  # noqa: ANN001
    """A model registered without predictions, logging features only: its windows store the empty quality, which
    must read back on the next fold (it did not, so the second batch of a window failed the model's folding)."""
    rng = np.random.default_rng(5)
    model = store.register_model("features", mg.drift.profile(rng.normal(size=(500, kit.N_FEATURES))), 10)
    errors: list[str] = []
    for i in range(3):
        x = rng.normal(size=(100, kit.N_FEATURES))
        doc = {"batch_id": f"f{i}", "features": x.tolist(), "timestamps": [BASE + 60 * i + k for k in range(100)]}
        store.insert_batch(model, parse_batch(doc, n_features=kit.N_FEATURES, n_classes=None, now=BASE + HOUR,
                                              max_events=10_000, clock_skew=300), BASE)
        assert fold_pending(store, HOUR, on_error=lambda m, e: errors.append(repr(e))) == 100
    assert errors == []
    with store.reader.connect() as conn:
        (row,) = conn.execute(sa.select(t.windows).where(t.windows.c.model_id == model.id)).all()
    assert row.n_events == 300 and row.drift_events == 300
    assert orjson.loads(row.drift)["prediction_drift"] == "n/a: the reference profile has no predictions"
