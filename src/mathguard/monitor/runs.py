"""Training runs as monitored objects: steps with their metrics (loss, gradient norm, condition numbers, ...).

A client posts steps of a run of a registered model (``POST /v1/models/{name}/runs/{run}/steps``);
each ``(model, run, step)`` is stored once, so a retried post adds nothing, and a step posted
again with other metrics is a 409. Values are JSON numbers within ±1e300, or null for a value
that was not finite (a NaN loss is worth recording: the run's summary reports it as a finding).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa

from mathguard.errors import InputError
from mathguard.monitor import schema as t
from mathguard.monitor.limits import printable
from mathguard.monitor.store import Conflict, Model, Store
from mathguard.report import Finding
from mathguard.training import findings as rules

LAYER = re.compile(r"grad_norm\.\d+\.(.*)")  # the per-layer series mg.training.Monitor streams, in layer order

MAX_STEPS = 10_000  # per request
MAX_METRICS = 100  # per step
MAX_VALUE = 1e300
MAX_STEP = 2**53


def parse_steps(doc: Any, now: float) -> list[tuple[int, float, dict[str, float | None]]]:
    """Check a steps body: ``{"steps": [{"step": int, "metrics": {name: number | null}, "at"?: seconds}]}``."""
    if not isinstance(doc, dict) or set(doc) - {"steps"}:
        raise InputError("the body must be {\"steps\": [{\"step\": ..., \"metrics\": {...}}, ...]}")
    steps = doc.get("steps")
    if not isinstance(steps, list) or not 0 < len(steps) <= MAX_STEPS:
        raise InputError(f"steps must be a list of 1 to {MAX_STEPS} steps")
    out, seen = [], set()
    for i, item in enumerate(steps):
        if not isinstance(item, dict) or set(item) - {"step", "metrics", "at"}:
            raise InputError(f"steps[{i}] must be an object with step, metrics and optionally at")
        step = item.get("step")
        if type(step) is not int or not 0 <= step <= MAX_STEP:
            raise InputError(f"steps[{i}].step must be an integer in 0..2^53")
        if step in seen:
            raise InputError(f"steps[{i}]: step {step} appears twice in this request")
        seen.add(step)
        at = item.get("at", now)
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not 0 <= at <= now + 300:
            raise InputError(f"steps[{i}].at must be epoch seconds, not in the future")
        metrics = item.get("metrics")
        if not isinstance(metrics, dict) or not 0 < len(metrics) <= MAX_METRICS:
            raise InputError(f"steps[{i}].metrics must be an object of 1 to {MAX_METRICS} numbers")
        clean: dict[str, float | None] = {}
        for name, value in metrics.items():
            printable(name, f"steps[{i}] metric name", 100)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not _within(value)):
                raise InputError(f"steps[{i}].metrics.{name} must be a number within ±1e300 or null "
                                 "(null records a value that was not finite)")
            clean[name] = None if value is None else float(value)
        out.append((step, float(at), clean))
    return out


def _within(value: int | float) -> bool:
    try:
        return math.isfinite(value) and abs(value) <= MAX_VALUE
    except OverflowError:
        return False


def add_steps(store: Store, model: Model, run: str, steps: list[tuple[int, float, dict[str, float | None]]]
              ) -> dict[str, int]:
    """Store the steps (one transaction); a step stored before is a duplicate, with other metrics a 409."""
    printable(run, "run name")
    s = t.run_steps.c
    stored = duplicate = 0
    with store.engine.begin() as conn:
        existing = {row.step: row.metrics for row in conn.execute(
            sa.select(s.step, s.metrics).where(s.model_id == model.id, s.run == run,
                                               s.step.in_([step for step, _, _ in steps])))}
        rows = []
        for step, at, metrics in steps:
            doc = orjson.dumps(metrics, option=orjson.OPT_SORT_KEYS).decode()
            if step in existing:
                if existing[step] != doc:
                    raise Conflict(f"step {step} of run {run!r} was stored before with other metrics")
                duplicate += 1
                continue
            rows.append({"model_id": model.id, "run": run, "step": step, "at": at, "metrics": doc})
        if rows:
            insert = store._insert(t.run_steps).values(rows).on_conflict_do_nothing(
                index_elements=["model_id", "run", "step"]).returning(t.run_steps.c.id)
            stored = len(conn.execute(insert).all())
    return {"stored": stored, "duplicate": duplicate}


def _series(rows: list[Any]) -> dict[str, Any]:
    """Steps, times and one list per metric (None where a step did not report it or it was not finite)."""
    metrics: dict[str, list[float | None]] = {}
    for i, row in enumerate(rows):
        for name, value in orjson.loads(row.metrics).items():
            metrics.setdefault(name, [None] * len(rows))[i] = value
    return {"steps": [r.step for r in rows], "at": [r.at for r in rows], "metrics": metrics}


def _summary(run: str, rows: list[Any], series: dict[str, Any]) -> dict[str, Any]:
    last: dict[str, float | None] = {}
    non_finite: dict[str, list[int]] = {}
    for row in rows:
        for name, value in orjson.loads(row.metrics).items():
            if value is None:
                non_finite.setdefault(name, []).append(row.step)
                last.setdefault(name, None)
            else:
                last[name] = value
    findings = [{"id": "monitor.training.non-finite", "severity": "high",
                 "title": f"{name} was not finite at {len(steps)} step(s), first at step {steps[0]}"}
                for name, steps in non_finite.items()]
    findings += [f.to_dict() for f in _training_findings(series)]
    return {"run": run, "n_steps": len(rows), "first_step": rows[0].step, "last_step": rows[-1].step,
            "last_at": rows[-1].at, "last": last, "findings": findings}


def _training_findings(series: dict[str, Any]) -> list[Finding]:
    """The training Monitor's own rules (divergence, exploding and vanishing gradients, plateau) on a run that
    carries per-layer gradient norms as ``mg.training.Monitor`` streams them (``grad_norm.NN.<layer>``)."""
    metrics = series["metrics"]
    layers = sorted(name for name in metrics if LAYER.fullmatch(name))
    if not layers or "loss" not in metrics or len(series["steps"]) < 2:
        return []
    number = lambda values: np.array([np.nan if v is None else v for v in values], dtype=float)  # noqa: E731
    losses = number(metrics["loss"])
    grads = np.column_stack([number(metrics[name]) for name in layers])
    lrs = number(metrics.get("lr", [None]))
    lr = float(lrs[np.isfinite(lrs)][-1]) if np.isfinite(lrs).any() else math.nan
    outputs = number(metrics.get("n_outputs", [None]))
    n_outputs = int(outputs[np.isfinite(outputs)][0]) if np.isfinite(outputs).any() else None
    diverged = rules.divergence(list(losses), lr)
    found = [diverged, rules.exploding(grads, lr), rules.vanishing(grads, [LAYER.fullmatch(n)[1] for n in layers]),
             None if diverged else rules.plateau(list(losses), len(losses), lr, n_outputs)]
    return [f for f in found if f is not None]


def runs(store: Store, model: Model) -> list[dict[str, Any]]:
    """Each run of ``model``: steps, first and last step, the last value of each metric, findings."""
    s = t.run_steps.c
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(t.run_steps).where(s.model_id == model.id).order_by(s.run, s.step)).all()
    by_run: dict[str, list[Any]] = {}
    for row in rows:
        by_run.setdefault(row.run, []).append(row)
    return [_summary(run, group, _series(group)) for run, group in by_run.items()]


def run_detail(store: Store, model: Model, run: str) -> dict[str, Any] | None:
    """One run's summary and its full series (None when the model has no such run)."""
    s = t.run_steps.c
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(t.run_steps).where(s.model_id == model.id, s.run == run)
                            .order_by(s.step)).all()
    if not rows:
        return None
    series = _series(rows)
    return {**_summary(run, rows, series), **series}



def worst_recent(store: Store, model: Model, metric: str, *, since: float, op: str) -> float | None:
    """The worst value of ``metric`` over the model's steps recorded since ``since`` (any run), for an alert rule:
    the largest for a ``>``/``>=`` rule, the smallest for ``<``/``<=``. A step where it was not finite is worst
    of all (±inf), so a NaN gradient fires a rule instead of passing as no data. None when no step reported it."""
    s = t.run_steps.c
    with store.reader.connect() as conn:
        docs = conn.execute(sa.select(s.metrics).where(s.model_id == model.id, s.at >= since)).scalars().all()
    upward = op in (">", ">=")
    values = []
    for doc in docs:
        metrics = orjson.loads(doc)
        if metric in metrics:
            value = metrics[metric]
            values.append((math.inf if upward else -math.inf) if value is None else value)
    if not values:
        return None
    return max(values) if upward else min(values)
