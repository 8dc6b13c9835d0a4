"""Alert rules on window metrics: ok → pending → firing → resolved, one notification per transition.

A rule watches one metric of the last ``window`` seconds (merged window profiles) and
fires once the condition has held for ``for`` seconds. Transitions are written with a
compare-and-set on the rule's state, so two evaluators never notify twice; a rule that
stays firing sends nothing more (de-duplication). Each transition is kept in the
history, and its webhooks are queued in the same transaction (``webhooks.enqueue``) for
the delivery thread, which records the outcome of every delivery; evaluation itself never
waits on the network. One rule that cannot be evaluated is reported and skipped; the
others carry on.
"""

from __future__ import annotations

import math
import operator
import re
import time
from typing import Any, Callable

import orjson
import sqlalchemy as sa

from mathguard.errors import InputError
from mathguard.monitor import runs
from mathguard.monitor import schema as t
from mathguard.monitor.config import Settings
from mathguard.monitor.store import Conflict, Model, Store
from mathguard.monitor.webhooks import check_url, deliveries, enqueue, mask
from mathguard.monitor.series import recent_summary
from mathguard.report import Finding, Severity

METRICS = ("psi_max", "kl_max", "js_max", "prediction_psi", "entropy_mean", "accuracy", "alarm_rate", "events",
           "condition_number", "vif_max", "new_dependencies", "ece", "macro_f1", "label_psi")
RUN_METRIC = re.compile(r"run\.[^\s\x00-\x1f]{1,36}")  # a training-run metric: its worst step in the window
OPS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
                                                 "<=": operator.le}


def create_rule(store: Store, model: Model, *, name: str, metric: str, op: str, threshold: float, window_s: int,
                for_s: int, webhooks: list[str], resolution: int, settings: Settings | None = None) -> dict[str, Any]:
    """Store a rule (state ok); names are unique per model; webhooks must pass the destination policy."""
    settings = settings or Settings()
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise InputError(f"threshold must be a finite number, got {str(threshold)[:40]!r}")
    if metric not in METRICS and not RUN_METRIC.fullmatch(metric):
        raise InputError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}, or run.<metric> for a "
                         "metric of the model's training runs (e.g. run.grad_norm_max)")
    if op not in OPS:
        raise InputError(f"unknown op {op!r}; choose from {', '.join(OPS)}")
    if window_s % resolution:
        raise InputError(f"window must be a multiple of the server's resolution ({resolution} s)")
    webhooks = [check_url(u, settings) for u in webhooks]
    r = t.alert_rules.c
    with store.engine.begin() as conn:
        if conn.execute(sa.select(r.id).where(r.model_id == model.id, r.name == name)).first():
            raise Conflict(f"model {model.name!r} already has a rule named {name!r}")
        now = time.time()
        conn.execute(t.alert_rules.insert().values(
            model_id=model.id, name=name, metric=metric, op=op, threshold=threshold, window_s=window_s,
            for_s=for_s, webhooks=orjson.dumps(webhooks).decode(), state="ok", state_since=now, created_at=now))
    return next(rule for rule in rules(store, model, admin=True) if rule["name"] == name)


def _rule_dict(row: Any, model_name: str, admin: bool = True) -> dict[str, Any]:
    urls = orjson.loads(row.webhooks)
    return {"id": row.id, "model": model_name, "name": row.name, "metric": row.metric, "op": row.op,
            "threshold": row.threshold, "window_s": row.window_s, "for_s": row.for_s,
            "webhooks": urls if admin else [mask(u) for u in urls], "state": row.state,
            "state_since": row.state_since, "value": row.value}


def rules(store: Store, model: Model | None = None, *, admin: bool = False) -> list[dict[str, Any]]:
    """Rules (of ``model`` or all); webhook URLs in full for ``admin`` only, masked otherwise."""
    r, m = t.alert_rules.c, t.models.c
    query = sa.select(t.alert_rules, m.name.label("model_name")).join(t.models, m.id == r.model_id)
    if model is not None:
        query = query.where(r.model_id == model.id)
    with store.reader.connect() as conn:
        return [_rule_dict(row, row.model_name, admin) for row in conn.execute(query.order_by(r.id))]


def delete_rule(store: Store, model: Model, name: str) -> bool:
    r = t.alert_rules.c
    with store.engine.begin() as conn:
        return conn.execute(t.alert_rules.delete().where(r.model_id == model.id, r.name == name)).rowcount == 1


def history(store: Store, limit: int = 100, *, admin: bool = False) -> list[dict[str, Any]]:
    """Transitions, newest first, each with its webhook deliveries (URLs masked unless ``admin``)."""
    e, r, m = t.alert_events.c, t.alert_rules.c, t.models.c
    query = (sa.select(t.alert_events, r.name.label("rule"), m.name.label("model"))
             .join(t.alert_rules, r.id == e.rule_id).join(t.models, m.id == r.model_id)
             .order_by(e.id.desc()).limit(limit))
    with store.reader.connect() as conn:
        rows = conn.execute(query).all()
    queued = deliveries(store, [row.id for row in rows], admin)
    out = []
    for row in rows:
        old = [{**d, "url": d.get("url", "") if admin else mask(d.get("url", ""))}
               for d in orjson.loads(row.deliveries)]  # transitions from before the outbox
        out.append({"id": row.id, "model": row.model, "rule": row.rule, "status": row.status, "at": row.at,
                    "value": row.value, "deliveries": queued.get(row.id, old)})
    return out


def finding(rule: dict[str, Any], status: str, value: float | None) -> Finding:
    """The alert as a monitor-lens Finding (the webhook payload carries it); a non-finite value (a training step
    that was not finite) is shown as such and recorded as null."""
    shown = "no data" if value is None else f"{value:.4g}" if math.isfinite(value) else "not finite"
    fix = ("Open the run on the dashboard (its curves) and the training report's findings for this run."
           if RUN_METRIC.fullmatch(rule["metric"]) else
           "Open the dashboard's drift view for this model; see which features moved and since when.")
    return Finding(
        id=f"monitor.alert.{rule['metric']}", lens="monitor",
        severity=Severity.HIGH if status == "firing" else Severity.INFO,
        title=f"{rule['model']}: {rule['name']} {status} ({rule['metric']} {shown} {rule['op']} {rule['threshold']:g})"
        if status == "firing" else f"{rule['model']}: {rule['name']} resolved ({rule['metric']} {shown})",
        detail=f"{rule['metric']} over the last {rule['window_s']} s, condition held for {rule['for_s']} s."
        if status == "firing" else "The condition no longer holds.",
        evidence={"rule": rule["name"], "model": rule["model"], "metric": rule["metric"],
                  "value": _finite(value), "threshold": rule["threshold"], "op": rule["op"],
                  "window_s": rule["window_s"]},
        fix=fix)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _value(summary: dict[str, Any] | None, metric: str) -> float | None:
    if summary is None:
        return 0.0 if metric == "events" else None
    return summary.get(metric)


def evaluate_rules(store: Store, *, resolution: int, now: float | None = None,
             on_error: Callable[[Model, Exception], None] | None = None) -> list[dict[str, Any]]:
    """Advance every rule's state; the transitions made (each one queued for its webhooks). A rule that
    cannot be evaluated goes to ``on_error`` with its model (raised without it); the others carry on."""
    now = time.time() if now is None else now
    models = {m.id: m for m in store.models()}
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(t.alert_rules)).all()
    summaries: dict[tuple[int, int], dict[str, Any] | None] = {}
    transitions = []
    for row in rows:
        model = models.get(row.model_id)
        if model is None:
            continue
        try:
            transition = _advance(store, row, model, summaries, resolution, now)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(model, exc)
            continue
        if transition is not None:
            transitions.append(transition)
    return transitions


def _advance(store: Store, row: Any, model: Model, summaries: dict[tuple[int, int], dict[str, Any] | None],
             resolution: int, now: float) -> dict[str, Any] | None:
    r = t.alert_rules.c
    if RUN_METRIC.fullmatch(row.metric):  # a non-finite step is the worst value and holds the condition
        value = runs.worst_recent(store, model, row.metric[4:], since=now - row.window_s, op=row.op)
    else:
        key = (row.model_id, row.window_s)
        if key not in summaries:
            summaries[key] = recent_summary(store, model, resolution=resolution, span=row.window_s, now=now)
        value = _value(summaries[key], row.metric)
        if value is not None and not math.isfinite(value):
            value = None
    holds = value is not None and OPS[row.op](value, row.threshold)
    state, since = row.state, row.state_since
    if holds and state == "ok":
        state, since = "pending", now
    if holds and state == "pending" and now - since >= row.for_s:
        state, since = "firing", now
    if not holds and state != "ok":
        state, since = "ok", now
    status = {("pending", "firing"): "firing", ("ok", "firing"): "firing",
              ("firing", "ok"): "resolved"}.get((row.state, state))
    rule = _rule_dict(row, model.name)
    body = None
    if status:
        body = {"status": status, "rule": rule["name"], "model": rule["model"], "value": _finite(value), "at": now,
                "finding": finding(rule, status, value).to_dict()}
    value = _finite(value)
    with store.engine.begin() as conn:  # state change, history and outbox commit together or not at all
        changed = conn.execute(t.alert_rules.update().where(r.id == row.id, r.state == row.state)
                               .values(state=state, state_since=since, value=value)).rowcount
        if not (changed and body is not None):
            return None
        event_id = conn.execute(t.alert_events.insert().values(
            rule_id=row.id, status=status, at=now, value=value, deliveries="[]").returning(t.alert_events.c.id)
        ).scalar_one()
        enqueue(conn, event_id, rule["webhooks"], orjson.dumps(body).decode(), now)
    return body
