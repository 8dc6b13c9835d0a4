"""Reading stored windows: the per-window drift series, a feature's histogram, the recent summary.

Every summary here is read from what folding stored (``windows``): at the server's resolution a
window's own summary, computed when it was folded (or, if that failed, now, and then stored); a
wider window is the merge of its stored window profiles, cached until one of them gains events.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from typing import Any, Callable, Collection

import orjson
import sqlalchemy as sa

from mathguard.errors import InputError
from mathguard.monitor import schema as t
from mathguard.monitor.quality import merge_moments
from mathguard.monitor.store import Counts, Model, Store, load_profile, row_moments, row_quality
from mathguard.monitor.windows import summarize

MAX_WINDOWS = 5000  # per drift query


def _stored_summary(store: Store, model: Model, row: Any) -> dict[str, Any]:
    """The cached summary of one stored window, computed (and cached) when events arrived since."""
    if row.drift is not None and row.drift_events == row.n_events:
        return orjson.loads(row.drift)
    summary = summarize(model.reference, load_profile(row.profile), Counts.of(row), row_quality(row), row_moments(row), model)
    w = t.windows.c
    with store.engine.begin() as conn:
        conn.execute(t.windows.update().where(w.id == row.id, w.n_events == row.n_events)
                     .values(drift=orjson.dumps(summary).decode(), drift_events=row.n_events))
    return summary


_MERGED: OrderedDict[tuple[int, int, int, int], dict[str, Any]] = OrderedDict()  # bounded LRU of merged summaries


def _merged_cached(model: Model, group_start: int, window: int, rows: list[Any]) -> dict[str, Any] | None:
    """The cached merged summary of ``rows`` (count columns suffice), or None."""
    key = (model.id, group_start, window, sum(r.n_events for r in rows))
    if key in _MERGED:
        _MERGED.move_to_end(key)
        return _MERGED[key]
    return None


def _merged_summary(model: Model, group_start: int, window: int, rows: list[Any]) -> dict[str, Any]:
    """Summary of several stored windows merged; cached until one of them gains events."""
    total = sum((Counts.of(r) for r in rows), Counts())
    key = (model.id, group_start, window, total.n_events)
    if key not in _MERGED:
        merged, quality, moments = load_profile(rows[0].profile), row_quality(rows[0]), row_moments(rows[0])
        for row in rows[1:]:
            merged, quality = merged + load_profile(row.profile), quality + row_quality(row)
            moments = merge_moments(moments, row_moments(row))
        _MERGED[key] = summarize(model.reference, merged, total, quality, moments, model)
        while len(_MERGED) > 2048:
            _MERGED.popitem(last=False)
    _MERGED.move_to_end(key)
    return _MERGED[key]


_LIGHT = ("id", "start", "n_events", "n_labeled", "n_correct", "n_alarm_reported", "n_alarms", "drift",
          "drift_events")  # what a query reads first: everything but the profiles


def drift_series(store: Store, model: Model, *, window: int, resolution: int, start: float,
                 end: float) -> list[dict[str, Any]]:
    """Per-window summaries over [start, end); windows without events are left out. At the resolution each
    window's stored summary is read as it is; profiles are read only for windows without a current summary
    and for wider windows whose merged summary is not cached."""
    if window % resolution:
        raise InputError(f"window must be a multiple of the server's resolution ({resolution} s)")
    if end <= start:
        raise InputError("end must come after start")
    first = int(start // window) * window
    if (end - first) / window > MAX_WINDOWS:
        raise InputError(f"at most {MAX_WINDOWS} windows per query; widen the window or narrow the range")
    w = t.windows.c
    where = (w.model_id == model.id, w.resolution == resolution, w.start >= first, w.start < end)
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(*(w[c] for c in _LIGHT)).where(*where).order_by(w.start)).all()
    groups: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        groups[row.start // window * window].append(row)
    summaries: dict[int, dict[str, Any]] = {}
    missing: list[int] = []  # window ids whose profiles must be read
    for group_start, group in groups.items():
        if window == resolution and group[0].drift is not None and group[0].drift_events == group[0].n_events:
            summaries[group_start] = orjson.loads(group[0].drift)
        elif window != resolution and (cached := _merged_cached(model, group_start, window, group)) is not None:
            summaries[group_start] = cached
        else:
            missing += [r.id for r in group]
    if missing:
        full: dict[int, Any] = {}
        with store.reader.connect() as conn:
            for i in range(0, len(missing), 500):
                full.update((r.id, r) for r in conn.execute(sa.select(t.windows).where(w.id.in_(missing[i : i + 500]))))
        for group_start, group in groups.items():
            if group_start in summaries:
                continue
            complete = [full[r.id] for r in group if r.id in full]  # a window deleted meanwhile is left out
            if not complete:
                continue
            if window == resolution:
                summaries[group_start] = _stored_summary(store, model, complete[0])
            else:
                summaries[group_start] = _merged_summary(model, group_start, window, complete)
    return [{"start": g, "end": g + window, **summaries[g]} for g in groups if g in summaries]


def refresh_stale(store: Store, models: dict[int, Model], resolution: int, *, limit: int,
                  skip: Collection[tuple[int, int]] = (), on_error: Callable[[Model, Exception], None] | None = None,
                  on_success: Callable[[Model], None] | None = None) -> list[tuple[int, int]]:
    """Compute the stored summaries of up to ``limit`` windows that have none or an outdated one (newest
    first, windows ``skip`` — (model id, start) — left out); the (model id, start) of those refreshed (or
    tried: a window whose summary fails is handed to ``on_error`` with its model and counted as tried). The
    worker calls this for windows whose summary was not computed when they were folded."""
    w = t.windows.c
    with store.reader.connect() as conn:
        stale = conn.execute(sa.select(w.id, w.model_id, w.start).where(
            w.resolution == resolution, sa.or_(w.drift_events.is_(None), w.drift_events != w.n_events),
            w.model_id.in_(list(models)) if models else sa.false())
            .order_by(w.start.desc()).limit(limit + len(skip))).all()
        chosen = [r.id for r in stale if (r.model_id, r.start) not in skip][:limit]
        rows = conn.execute(sa.select(t.windows).where(w.id.in_(chosen)).order_by(w.start.desc())).all() \
            if chosen else []
    done = []
    for row in rows:
        try:
            _stored_summary(store, models[row.model_id], row)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(models[row.model_id], exc)
        else:
            if on_success is not None:
                on_success(models[row.model_id])
        done.append((row.model_id, row.start))
    return done


def recent_summary(store: Store, model: Model, *, resolution: int, span: int, now: float) -> dict[str, Any] | None:
    """Summary of the stored windows that start within the last ``span`` seconds (None without events)."""
    w = t.windows.c
    since = int((now - span) // resolution + 1) * resolution
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(t.windows).where(w.model_id == model.id, w.resolution == resolution,
                                                       w.start >= since).order_by(w.start)).all()
    if not rows:
        return None
    if len(rows) == 1:
        return _stored_summary(store, model, rows[0])
    return _merged_summary(model, since, span, rows)


def feature_histogram(store: Store, model: Model, feature: str, *, window: int, resolution: int,
                      end: float) -> dict[str, Any]:
    """The latest window (of ``window`` seconds, starting before ``end``) against the reference for one feature:
    the reference's quantile bins, both shares per bin and PSI / KL / JS, by the same function ``compare`` uses,
    so the PSI is the one in that window's summary. Without events the current side is None."""
    from mathguard.drift.compare import Thresholds
    from mathguard.drift.measures import numeric_drift

    if feature not in model.reference.features:
        raise KeyError(feature)
    if window % resolution:
        raise InputError(f"window must be a multiple of the server's resolution ({resolution} s)")
    w = t.windows.c
    base = sa.select(t.windows).where(w.model_id == model.id, w.resolution == resolution, w.start < end)
    with store.reader.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(w.start)).where(
            w.model_id == model.id, w.resolution == resolution, w.start < end)).scalar()
        rows = [] if last is None else conn.execute(
            base.where(w.start >= last // window * window).order_by(w.start)).all()
    ref = model.reference.features[feature]
    out: dict[str, Any] = {"model": model.name, "feature": feature, "window_s": window, "start": None, "end": None,
                           "events": 0, "n_reference": ref.n}
    if not rows:
        return out
    group = rows[0].start // window * window
    merged = load_profile(rows[0].profile)
    for row in rows[1:]:
        merged = merged + load_profile(row.profile)
    cur = merged.features[feature]
    out.update(start=group, end=group + window, events=sum(r.n_events for r in rows), n_current=cur.n)
    if ref.n == 0 or cur.n == 0:  # compare measures nothing here either (the missing-rate check speaks)
        out["note"] = "no values of this feature in the window" if cur.n == 0 else "the reference has no values"
        return out
    d = numeric_drift(feature, ref, cur, Thresholds().bins)
    out.update(psi=d.psi, kl=d.kl, js=d.js, bins=d.bins, reference_share=d.reference_share,
               current_share=d.current_share, **{k: d.extra[k] for k in ("mean_reference", "mean_current",
                                                                          "std_reference", "std_current")})
    return out
