"""Window statistics: committed batches folded into one mergeable drift profile per window.

The worker reads each committed batch once, profiles its events per window of
``resolution`` seconds (by event time) and merges that into the stored window profile in
the same transaction that marks the batch folded, so every event is counted exactly
once even across crashes. Each window's drift summary against the reference is computed
when the window is folded (before the write transaction, from the profile as merged, whose
document is what is stored) and written with it, so a query at the resolution only reads
stored summaries; a window whose summary could not be computed then (or was folded before
summaries were stored at fold time) is summarised by the worker's refresh duty or by the
first query.
A wider window is the merge of its stored windows (``Profile + Profile``), never a
re-read of events.
"""

from __future__ import annotations

import math
from collections import defaultdict, namedtuple
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable, Iterator, Protocol

import numpy as np
import orjson
import pandas as pd
import sqlalchemy as sa

from mathguard.drift import Profile, compare, profile
from mathguard.drift.accumulators import NumericFeature
from mathguard.drift.frames import iter_frames
from mathguard.drift.profile import stream_profile
from mathguard.drift.sketch import MAX_LEVEL
from mathguard.errors import InputError
from mathguard.monitor import schema as t
from mathguard.data.moments import Moments
from mathguard.monitor.events import from_blob
from mathguard.monitor.quality import (Quality, linalg, merge_moments, moments_from_dict, moments_of, moments_to_dict,
                                       reference_moments)
from mathguard.monitor.store import Counts, Model, Store, load_profile, row_moments, row_quality

WINDOW_BUCKETS = 1024  # sketch size of a window profile: 10 quantile bins need far less, and rows stay small
FOLD_WINDOWS = 64  # windows one fold transaction may write (each summarised before it begins)


def _columns(model: Model, rows: list[Any]) -> dict[str, np.ndarray]:
    """The events of ``rows`` concatenated; -1 marks a missing label, 255 an unreported alarm."""
    def cat(blobs: Iterable[np.ndarray]) -> np.ndarray:
        return np.concatenate(list(blobs))

    out = {"features": cat(from_blob(r.features, width=model.n_features) for r in rows),
           "timestamps": cat(from_blob(r.timestamps) for r in rows),
           "labels": cat(from_blob(r.labels, "<i8") if r.labels is not None else np.full(r.n_events, -1)
                         for r in rows),
           "alarms": cat(from_blob(r.alarms, "u1") if r.alarms is not None else np.full(r.n_events, 255, np.uint8)
                         for r in rows)}
    if model.n_classes is not None:
        out["proba"] = cat(from_blob(r.proba, width=model.n_classes) for r in rows)
    return out


def _row_proba(model: Model, row: Any) -> np.ndarray | None:
    """One batch's probabilities; a model without reference predictions takes each batch's own width."""
    if row.proba is None:
        return None
    width = model.n_classes or len(row.proba) // 8 // max(row.n_events, 1)
    return from_blob(row.proba, width=width)


@dataclass
class Partial:
    """What one fold adds to one window: drift profile, counts, quality and the features' moments."""

    profile: Profile
    counts: Counts
    quality: Quality
    moments: Moments | None


Levels = tuple[dict[str, int], int]  # sketch levels of a profile: by numeric feature, and of its entropy


def partial_windows(model: Model, rows: list[Any], resolution: int, linalg_features: int = 50,
                    levels: dict[int, Levels] | None = None) -> dict[int, Partial]:
    """Profile, counts, quality and moments of each window the events of ``rows`` fall in, keyed by start.
    A window given ``levels`` (those of its stored profile) gets sketches cut at those levels: what a merge into
    a profile of levels no finer makes of them anyway, without searching the finer ones (``stream_profile``)."""
    cols = _columns(model, rows)
    starts = (cols["timestamps"] // resolution).astype(np.int64) * resolution
    names = list(model.reference.features)
    p = min(linalg_features, model.n_features)
    out: dict[int, Partial] = {}
    for start in np.unique(starts):
        mask = starts == start
        proba = cols["proba"][mask] if "proba" in cols else None
        frame, cut = pd.DataFrame(cols["features"][mask], columns=names), (levels or {}).get(int(start))
        prof = profile(frame, proba, max_buckets=WINDOW_BUCKETS, sample_size=0) if cut is None else stream_profile(
            iter_frames(frame), proba, categorical=(), columns=None, max_buckets=WINDOW_BUCKETS, max_categories=1000,
            sample_size=0, levels=cut[0], entropy_level=cut[1])
        alarms = cols["alarms"][mask]
        reported = alarms != 255
        out[int(start)] = Partial(prof, Counts(int(mask.sum()), 0, 0, int(reported.sum()),
                                               int((alarms[reported] == 1).sum())), Quality(),
                                  moments_of(cols["features"][mask], p) if p else None)
    # Quality batch by batch: a model without reference predictions may get probabilities of any width.
    for row in rows:
        proba = _row_proba(model, row)
        if proba is None:
            continue
        labels = from_blob(row.labels, "<i8") if row.labels is not None else np.full(row.n_events, -1)
        row_starts = (from_blob(row.timestamps) // resolution).astype(np.int64) * resolution
        for start in np.unique(row_starts):
            mask = row_starts == start
            part = out[int(start)]
            known = labels[mask] >= 0
            part.counts.n_labeled += int(known.sum())
            part.counts.n_correct += int((proba[mask][known].argmax(axis=1) == labels[mask][known]).sum())
            part.quality = part.quality + Quality.of(proba[mask], labels[mask])
    return out


def cut_levels(prof: Profile) -> Levels:
    """The levels at which events merged into ``prof`` may be profiled: its sketches' own, except 0 and below
    (a sketch past its bucket limit there coarsens once more when capped than when absorbing: left uncut)."""
    def cut(level: int) -> int:
        return level if level > 0 else MAX_LEVEL

    return ({k: cut(f.sketch.level) for k, f in prof.features.items() if isinstance(f, NumericFeature)},
            MAX_LEVEL if prof.entropy is None else cut(prof.entropy.sketch.level))


def no_finer(prof: Profile, cut: Levels) -> bool:
    """Whether ``prof``'s sketches are at ``cut``'s levels or coarser (a partial cut there merges into it exactly)."""
    return all(f.sketch.level <= cut[0].get(k, MAX_LEVEL) for k, f in prof.features.items()
               if isinstance(f, NumericFeature)) and (prof.entropy is None or prof.entropy.sketch.level <= cut[1])


def _check_folded(prof: Profile) -> None:
    """Refuse to store a window whose moments are not finite (the door should have made this impossible)."""
    for name, feat in prof.features.items():
        if not all(math.isfinite(v) for v in (feat.mean, feat.m2)):  # type: ignore[union-attr]
            raise InputError(f"window moments of feature {name!r} are not finite; nothing was stored")


@dataclass
class _Prepared:
    """A window row as it will be written: merged on the row seen before the transaction (``base``, None for a
    new window) and summarised from the very profile stored."""

    base: tuple[int, int] | None  # (row id, n_events) the merge started from
    values: dict[str, Any]
    profile: Profile  # the merged profile, whose document is values["profile"]
    outcome: Exception | None | bool = False  # False: not summarised; None: summarised; else why it failed


def _prepare(model: Model, row: Any, part: Partial, summarise: bool = True,
             stored: Profile | None = None) -> _Prepared:
    """Merge ``part`` into the stored ``row`` (None: a new window; ``stored``: its profile, parsed already) and
    summarise the result; unsummarised, a stored row keeps its old summary, which ``drift_events`` marks as
    outdated."""
    prof, counts, quality, moments = part.profile, part.counts, part.quality, part.moments
    if row is not None:
        prof, counts = (load_profile(row.profile) if stored is None else stored) + prof, Counts.of(row) + counts
        quality = row_quality(row) + quality
        moments = merge_moments(row_moments(row), moments)
        _check_folded(prof)
    values: dict[str, Any] = dict(zip(("n_events", "n_labeled", "n_correct", "n_alarm_reported", "n_alarms"),
                                      counts.as_tuple()), profile=orjson.dumps(prof.to_dict()).decode(),
                                  quality=orjson.dumps(quality.to_dict()).decode(),
                                  moments=None if moments is None else orjson.dumps(moments_to_dict(moments)).decode())
    prepared = _Prepared(None if row is None else (row.id, row.n_events), values, prof)
    if summarise:
        # The profile as merged: its document reads back as the very same object (tests/monitor/test_fold_cache.py),
        # so the numbers are those a later from-scratch compare of the stored row gives. Quality and moments are
        # read back from their documents, as stored (cheap; an empty confusion matrix does not read back).
        try:
            summary = summarize(model.reference, prof, counts, Quality.from_dict(orjson.loads(values["quality"])),
                                moments_from_dict(orjson.loads(values["moments"])) if values["moments"] else None,
                                model)
            values.update(drift=orjson.dumps(summary).decode(), drift_events=counts.n_events)
            prepared.outcome = None
        except Exception as exc:  # stored without a current summary (the refresh duty or a query retries it)
            prepared.outcome = exc
    return prepared


class ProfileCache(Protocol):
    """Where a fold finds the profiles of window rows it wrote before (``worker.WindowCache``)."""

    def get(self, model: Model, row: Any) -> Profile | None: ...
    def put(self, model: Model, row: Any, prof: Profile) -> None: ...
    def drop(self, row_id: int) -> None: ...


def fold_model(store: Store, model: Model, rows: list[Any], resolution: int, linalg_features: int = 50,
               summarise: Callable[[Model, int], bool] | None = None,
               on_summary: Callable[[Model, Exception | None], None] | None = None,
               cache: ProfileCache | None = None) -> int:
    """Fold ``rows`` (unfolded batches of ``model``) into its window rows, each with its drift summary, in one
    transaction. Profiling, merging and summarising happen before the write transaction (ingest is never
    blocked by them); a window that another process changed meanwhile is merged again inside it.
    ``summarise(model, start)`` may decline a window's summary (it is then stored without a current one);
    ``on_summary(model, error)`` hears of each summary once the fold is committed (error None: it succeeded).
    With a ``cache`` (the worker's), a window whose row it holds is merged into the cached profile (its document
    is not read), and the new events' sketches are cut at the levels of the profile they are merged into: the
    merge takes every sketch to the coarser level of the two anyway, and a sketch cut there holds exactly the
    coarsened buckets (``stream_profile``). A window merged again in the transaction into a row with finer
    levels (written anew meanwhile) is profiled again uncut."""
    w, b = t.windows.c, t.batches.c
    where = (w.model_id == model.id, w.resolution == resolution)
    stamps = np.concatenate([from_blob(r.timestamps) for r in rows])
    starts = [int(s) for s in np.unique((stamps // resolution).astype(np.int64) * resolution)]  # partial_windows'
    seen: dict[int, Any] = {}
    stored: dict[int, Profile] = {}  # start -> the profile of its row
    with store.reader.connect() as conn:
        for chunk in _chunks(starts, 500):
            seen.update((r.start, r) for r in conn.execute(sa.select(*(t.windows.c if cache is None else _LIGHT))
                                                           .where(*where, w.start.in_(chunk))))
        if cache is not None:  # the profiles of the rows it does not hold are read now
            stored = {start: prof for start, row in seen.items() if (prof := cache.get(model, row)) is not None}
            missing = {row.id: start for start, row in seen.items() if start not in stored}
            texts: dict[int, str] = {}
            for chunk in _chunks(list(missing), 500):
                query = sa.select(w.id, w.profile).where(w.id.in_(chunk))
                texts.update((r.id, r.profile) for r in conn.execute(query))
            for row_id, start in missing.items():
                if row_id in texts:  # a row gone by now is as if it had gone before the first read
                    stored[start] = load_profile(texts[row_id])
                else:
                    del seen[start]
    cuts = {start: cut_levels(prof) for start, prof in stored.items()}
    partials = partial_windows(model, rows, resolution, linalg_features, cuts)
    for part in partials.values():
        _check_folded(part.profile)
    prepared = {start: _prepare(model, seen.get(start), part, summarise is None or summarise(model, start),
                                stored.get(start)) for start, part in partials.items()}
    uncut: dict[int, Partial] | None = None
    ids = [r.id for r in rows]
    written: list[tuple[Any, _Prepared]] = []  # (row as written, what was written)
    with store.engine.begin() as conn:
        marked = conn.execute(t.batches.update().where(b.id.in_(ids), b.folded.is_(False))
                              .values(folded=True)).rowcount
        if marked != len(ids):  # another process folded some of them first: leave it all to it
            conn.rollback()
            return 0
        for start, part in partials.items():
            row = conn.execute(sa.select(w.id, w.n_events).where(*where, w.start == start).with_for_update()).first()
            ready = prepared[start]
            if ready.base != (None if row is None else (row.id, row.n_events)):  # changed since: merge again here
                full = None if row is None else conn.execute(sa.select(t.windows).where(w.id == row.id)).one()
                base = None if full is None else load_profile(full.profile)
                if start in cuts and (base is None or not no_finer(base, cuts[start])):  # cut for another row
                    uncut = uncut or partial_windows(model, rows, resolution, linalg_features)
                    part = uncut[start]
                ready = prepared[start] = _prepare(model, full, part, summarise=False, stored=base)
            if row is None:
                row_id = conn.execute(t.windows.insert().values(model_id=model.id, resolution=resolution, start=start,
                                                                **ready.values)).inserted_primary_key[0]
            else:
                row_id = row.id
                conn.execute(t.windows.update().where(w.id == row.id).values(**ready.values))
            written.append((_Written(row_id, model.id, resolution, start, ready.values["n_events"],
                                     ready.values["quality"], ready.values["moments"]), ready))
            if cache is not None:
                cache.drop(row_id)  # until committed
    if cache is not None:
        for row, ready in written:
            cache.put(model, row, ready.profile)
    if on_summary is not None:
        for ready in prepared.values():
            if ready.outcome is not False:
                on_summary(model, ready.outcome)  # type: ignore[arg-type]
    return sum(r.n_events for r in rows)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    return (items[i : i + size] for i in range(0, len(items), size))


# The columns of a window row that a ProfileCache keys on, as a fold wrote them.
_Written = namedtuple("_Written", "id model_id resolution start n_events quality moments")
_LIGHT = tuple(c for c in t.windows.c if c.name not in ("profile", "drift"))  # a window row but its big documents


def fold_pending(store: Store, resolution: int, max_events: int = 200_000, *, exclude: Collection[int] = (),
                 on_error: Callable[[Model, Exception], None] | None = None, linalg_features: int = 50,
                 summarise: Callable[[Model, int], bool] | None = None,
                 on_summary: Callable[[Model, Exception | None], None] | None = None,
                 cache: ProfileCache | None = None) -> int:
    """Fold committed, unfolded batches into window profiles and their drift summaries, each model's batches in
    transactions of at most FOLD_WINDOWS windows (a month of backfill is committed in steps, not after every
    one of its summaries); the number of events folded. A model whose folding fails is handed to ``on_error``
    (its batches not yet folded stay so) while the others carry on; without ``on_error`` the error is raised.
    A window whose summary fails, or that ``summarise(model, start)`` declines, is stored without a current one
    (the worker's refresh duty computes it); ``on_summary(model, error)`` hears of each summary computed."""
    rows = list(store.pending_batches(max_events, exclude=exclude))
    if not rows:
        return 0
    models = {m.id: m for m in store.models()}
    by_model: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_model[row.model_id].append(row)
    folded = 0
    for mid, group in by_model.items():
        if mid not in models:  # deleted meanwhile: its batches went with it
            continue
        try:
            for part in _by_windows(group, resolution, FOLD_WINDOWS):
                folded += fold_model(store, models[mid], part, resolution, linalg_features, summarise, on_summary,
                                     cache)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(models[mid], exc)
    return folded


def _by_windows(rows: list[Any], resolution: int, most: int) -> Iterator[list[Any]]:
    """``rows`` in order, cut into runs whose events fall in at most ``most`` windows (a batch alone may exceed)."""
    run: list[Any] = []
    seen: set[int] = set()
    for row in rows:
        starts = set(np.unique(from_blob(row.timestamps) // resolution).tolist())
        if run and len(seen | starts) > most:
            yield run
            run, seen = [], set()
        run.append(row)
        seen |= starts
    if run:
        yield run


def summarize(reference: Profile, current: Profile, counts: Counts, quality: Quality | None = None,
              moments: Moments | None = None, model: Model | None = None) -> dict[str, Any]:
    """One window's drift against the reference: verdict, per-feature PSI/KL/JS, entropy, accuracy, alarms;
    with ``quality`` and ``moments`` (and the ``model`` for its reference labels and linear algebra) also
    per-class quality, ECE, label drift, the standardised condition number, VIF and new near dependencies."""
    report = compare(reference, current, multivariate=False)
    m = report.metrics
    features = {name: {k: round(float(f[k]), 6) for k in ("psi", "kl", "js")} for name, f in m["features"].items()}
    def top(key: str) -> float | None:
        return max((f[key] for f in features.values()), default=None)

    quality = quality or Quality()
    entropy = None if current.entropy is None or current.entropy.n == 0 else current.entropy.mean
    if entropy is None and quality.n_proba:
        entropy = quality.entropy_sum / quality.n_proba
    findings = [{"id": f.id, "severity": str(f.severity), "title": f.title} for f in report.findings[:10]]
    out = {"events": counts.n_events, "verdict": m["verdict"],
           "severity": None if report.worst is None else str(report.worst),
           "psi_max": top("psi"), "kl_max": top("kl"), "js_max": top("js"),
           "drifted_features": m["drifted_features"], "features": features,
           "prediction_psi": None if m["prediction"] is None else round(float(m["prediction"]["psi"]), 6),
           "prediction_drift": "measured" if m["prediction"] is not None else
           "n/a: the reference profile has no predictions" if reference.n_classes is None else
           "n/a: no probabilities in this window",
           "entropy_mean": entropy,
           "accuracy": counts.n_correct / counts.n_labeled if counts.n_labeled else None,
           "labeled": counts.n_labeled,
           "alarm_rate": counts.n_alarms / counts.n_alarm_reported if counts.n_alarm_reported else None,
           "findings": findings}
    if model is None:
        return out
    ref_labels, source = model.label_counts
    q = quality.summary(ref_labels, source)
    out.update(quality=q, ece=q["ece"], macro_f1=q["macro_f1"], label_psi=q["label_psi"])
    lin = linalg(moments, list(reference.features), len(reference.features))
    ref_lin = reference_linalg(model, moments.p if moments is not None else 0)
    new = None
    if lin.get("near_dependencies") is not None:
        new = lin["near_dependencies"] - (ref_lin.get("near_dependencies") or 0)
        lin["reference"] = {k: ref_lin.get(k) for k in ("condition_number", "vif_max", "near_dependencies",
                                                        "relations", "status")}
        if new > 0:
            known = set(ref_lin.get("relations") or [])
            rels = [r for r in lin["relations"] if r not in known] or lin["relations"]
            findings.insert(0, {"id": "monitor.linalg.new-dependency", "severity": "high",
                                "title": f"{new} near linear dependenc{'y' if new == 1 else 'ies'} the reference "
                                         f"did not have (standardised κ = {lin['condition_number']:.3g}, "
                                         f"largest VIF {lin['vif_max']:.3g} on {lin['vif_max_feature']})"
                                         + (f": {rels[0]}" if rels else "")})
    out.update(linalg=lin, condition_number=lin.get("condition_number"), vif_max=lin.get("vif_max"),
               new_dependencies=None if new is None else max(new, 0))
    return out


_REFERENCE_LINALG: dict[tuple[int, int], dict[str, Any]] = {}


def reference_linalg(model: Model, p: int) -> dict[str, Any]:
    """The reference's own condition number and near dependencies, from its profile's row sample (cached)."""
    key = (model.id, p)
    if key not in _REFERENCE_LINALG:
        names = list(model.reference.features)
        mom = reference_moments(model.reference, p) if p else None
        _REFERENCE_LINALG[key] = linalg(mom, names, len(names)) if mom is not None else {
            "status": "the reference profile holds no row sample: its dependencies are unknown"}
    return _REFERENCE_LINALG[key]
