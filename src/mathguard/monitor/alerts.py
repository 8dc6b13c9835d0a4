"""Alert rules on window metrics: ok → pending → firing → resolved, one notification per transition.

A rule watches one metric of the last ``window`` seconds (merged window profiles) and
fires once the condition has held for ``for`` seconds. Transitions are written with a
compare-and-set on the rule's state, so two evaluators never notify twice; a rule that
stays firing sends nothing more (de-duplication). Each transition is kept in the
history with the outcome of every webhook delivery.
"""

from __future__ import annotations

import operator
import time
from typing import Any, Callable

import httpx
import orjson
import sqlalchemy as sa

from mathguard.errors import InputError
from mathguard.monitor import schema as t
from mathguard.monitor.store import Conflict, Model, Store
from mathguard.monitor.windows import recent_summary
from mathguard.report import Finding, Severity

METRICS = ("psi_max", "kl_max", "js_max", "prediction_psi", "entropy_mean", "accuracy", "alarm_rate", "events")
OPS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
                                                 "<=": operator.le}


def create_rule(store: Store, model: Model, *, name: str, metric: str, op: str, threshold: float, window_s: int,
                for_s: int, webhooks: list[str], resolution: int) -> dict[str, Any]:
    """Store a rule (state ok); names are unique per model."""
    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    if op not in OPS:
        raise InputError(f"unknown op {op!r}; choose from {', '.join(OPS)}")
    if window_s % resolution:
        raise InputError(f"window must be a multiple of the server's resolution ({resolution} s)")
    bad = [u for u in webhooks if not u.startswith(("http://", "https://"))]
    if bad:
        raise InputError(f"webhooks must be http(s) URLs, got {bad[0][:60]!r}")
    r = t.alert_rules.c
    with store.engine.begin() as conn:
        if conn.execute(sa.select(r.id).where(r.model_id == model.id, r.name == name)).first():
            raise Conflict(f"model {model.name!r} already has a rule named {name!r}")
        now = time.time()
        conn.execute(t.alert_rules.insert().values(
            model_id=model.id, name=name, metric=metric, op=op, threshold=threshold, window_s=window_s,
            for_s=for_s, webhooks=orjson.dumps(webhooks).decode(), state="ok", state_since=now, created_at=now))
    return next(rule for rule in rules(store, model) if rule["name"] == name)


def _rule_dict(row: Any, model_name: str) -> dict[str, Any]:
    return {"id": row.id, "model": model_name, "name": row.name, "metric": row.metric, "op": row.op,
            "threshold": row.threshold, "window_s": row.window_s, "for_s": row.for_s,
            "webhooks": orjson.loads(row.webhooks), "state": row.state, "state_since": row.state_since,
            "value": row.value}


def rules(store: Store, model: Model | None = None) -> list[dict[str, Any]]:
    r, m = t.alert_rules.c, t.models.c
    query = sa.select(t.alert_rules, m.name.label("model_name")).join(t.models, m.id == r.model_id)
    if model is not None:
        query = query.where(r.model_id == model.id)
    with store.reader.connect() as conn:
        return [_rule_dict(row, row.model_name) for row in conn.execute(query.order_by(r.id))]


def delete_rule(store: Store, model: Model, name: str) -> bool:
    r = t.alert_rules.c
    with store.engine.begin() as conn:
        return conn.execute(t.alert_rules.delete().where(r.model_id == model.id, r.name == name)).rowcount == 1


def history(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """Transitions, newest first."""
    e, r, m = t.alert_events.c, t.alert_rules.c, t.models.c
    query = (sa.select(t.alert_events, r.name.label("rule"), m.name.label("model"))
             .join(t.alert_rules, r.id == e.rule_id).join(t.models, m.id == r.model_id)
             .order_by(e.id.desc()).limit(limit))
    with store.reader.connect() as conn:
        return [{"id": row.id, "model": row.model, "rule": row.rule, "status": row.status, "at": row.at,
                 "value": row.value, "deliveries": orjson.loads(row.deliveries)} for row in conn.execute(query)]


def finding(rule: dict[str, Any], status: str, value: float | None) -> Finding:
    """The alert as a monitor-lens Finding (the webhook payload carries it)."""
    shown = "no data" if value is None else f"{value:.4g}"
    return Finding(
        id=f"monitor.alert.{rule['metric']}", lens="monitor",
        severity=Severity.HIGH if status == "firing" else Severity.INFO,
        title=f"{rule['model']}: {rule['name']} {status} ({rule['metric']} {shown} {rule['op']} {rule['threshold']:g})"
        if status == "firing" else f"{rule['model']}: {rule['name']} resolved ({rule['metric']} {shown})",
        detail=f"{rule['metric']} over the last {rule['window_s']} s, condition held for {rule['for_s']} s."
        if status == "firing" else "The condition no longer holds.",
        evidence={"rule": rule["name"], "model": rule["model"], "metric": rule["metric"], "value": value,
                  "threshold": rule["threshold"], "op": rule["op"], "window_s": rule["window_s"]},
        fix="Open the dashboard's drift view for this model; see which features moved and since when.")


def _deliver(urls: list[str], payload: bytes, timeout: float) -> list[dict[str, Any]]:
    """POST the payload to each webhook, three tries each; the outcome of every URL."""
    results = []
    with httpx.Client(timeout=timeout) as http:
        for url in urls:
            outcome: dict[str, Any] = {"url": url}
            for attempt in range(3):
                try:
                    status = http.post(url, content=payload, headers={"content-type": "application/json"}).status_code
                except httpx.HTTPError as exc:
                    outcome.update(error=type(exc).__name__)
                else:
                    outcome.update(status=status)
                    outcome.pop("error", None)
                    if status < 500:
                        break
                if attempt < 2:
                    time.sleep(0.2 * 2**attempt)
            results.append(outcome)
    return results


def _value(summary: dict[str, Any] | None, metric: str) -> float | None:
    if summary is None:
        return 0.0 if metric == "events" else None
    return summary.get(metric)


def evaluate(store: Store, *, resolution: int, now: float | None = None, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Advance every rule's state; the transitions made (each one notified)."""
    now = time.time() if now is None else now
    models = {m.id: m for m in store.models()}
    r = t.alert_rules.c
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(t.alert_rules)).all()
    summaries: dict[tuple[int, int], dict[str, Any] | None] = {}
    transitions = []
    for row in rows:
        model = models[row.model_id]
        key = (row.model_id, row.window_s)
        if key not in summaries:
            summaries[key] = recent_summary(store, model, resolution=resolution, span=row.window_s, now=now)
        value = _value(summaries[key], row.metric)
        holds = value is not None and OPS[row.op](value, row.threshold)
        state, since = row.state, row.state_since
        if holds and state == "ok":
            state, since = "pending", now
        if holds and state == "pending" and now - since >= row.for_s:
            state, since = "firing", now
        if not holds and state != "ok":
            state, since = "ok", now
        with store.engine.begin() as conn:
            changed = conn.execute(t.alert_rules.update().where(r.id == row.id, r.state == row.state)
                                   .values(state=state, state_since=since, value=value)).rowcount
        status = {("pending", "firing"): "firing", ("ok", "firing"): "firing",
                  ("firing", "ok"): "resolved"}.get((row.state, state))
        if changed and status:
            transitions.append(_notify(store, _rule_dict(row, model.name), status, value, now, timeout))
    return transitions


def _notify(store: Store, rule: dict[str, Any], status: str, value: float | None, now: float,
            timeout: float) -> dict[str, Any]:
    body = {"status": status, "rule": rule["name"], "model": rule["model"], "value": value, "at": now,
            "finding": finding(rule, status, value).to_dict()}
    deliveries = _deliver(rule["webhooks"], orjson.dumps(body), timeout)
    with store.engine.begin() as conn:
        conn.execute(t.alert_events.insert().values(rule_id=rule["id"], status=status, at=now, value=value,
                                                    deliveries=orjson.dumps(deliveries).decode()))
    return {**body, "deliveries": deliveries}
