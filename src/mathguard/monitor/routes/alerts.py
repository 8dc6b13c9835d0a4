"""Alert rules of a model, and the history of firing and resolved transitions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from mathguard.monitor import alerts
from mathguard.monitor.config import MAX_DURATION, parse_duration
from mathguard.monitor.deps import NAME, ApiError, Service, model, scope, service
from mathguard.monitor.store import Model
from mathguard.monitor.webhooks import MAX_URL

router = APIRouter(tags=["alerts"])


class RuleIn(BaseModel):
    name: str = Field(pattern=NAME)
    metric: str = Field(description=", ".join(alerts.METRICS))
    op: str = Field(">", description=", ".join(alerts.OPS))
    threshold: float = Field(allow_inf_nan=False, strict=True)
    window: str = Field("1h", max_length=20, description="Span of windows the metric covers, e.g. 1h")
    for_: str = Field("0s", alias="for", max_length=20, description="How long the condition must hold before firing")
    webhooks: list[str] = Field(default_factory=list, max_length=10,
                                description="http(s) URLs; private addresses refused unless the operator allows them")


@router.post("/v1/models/{name}/alerts", status_code=201, dependencies=[Depends(scope("admin"))])
def add_rule(body: RuleIn, m: Model = Depends(model), svc: Service = Depends(service)) -> dict[str, Any]:
    """Add an alert rule (admin)."""
    if any(len(u) > MAX_URL for u in body.webhooks):
        raise ApiError(422, f"webhooks: a URL may have at most {MAX_URL} characters", "bad_request")
    return alerts.create_rule(svc.store, m, name=body.name, metric=body.metric, op=body.op,
                              threshold=body.threshold, window_s=parse_duration(body.window, maximum=MAX_DURATION),
                              for_s=parse_duration(body.for_, allow_zero=True, maximum=MAX_DURATION),
                              webhooks=body.webhooks, resolution=svc.settings.resolution_s, settings=svc.settings)


@router.get("/v1/models/{name}/alerts")
def list_rules(m: Model = Depends(model), scopes: set[str] = Depends(scope("read")),
               svc: Service = Depends(service)) -> list[dict[str, Any]]:
    """The model's rules (read); webhook URLs in full for admin keys only."""
    return alerts.rules(svc.store, m, admin="admin" in scopes)


@router.delete("/v1/models/{name}/alerts/{rule}", status_code=204, dependencies=[Depends(scope("admin"))])
def delete_rule(rule: str = Path(pattern=NAME), m: Model = Depends(model), svc: Service = Depends(service)
                ) -> Response:
    if not alerts.delete_rule(svc.store, m, rule):
        raise ApiError(404, f"model {m.name!r} has no rule {rule!r}", "not_found")
    return Response(status_code=204)


@router.get("/v1/alerts/history")
def alert_history(limit: int = Query(100, ge=1, le=1000), scopes: set[str] = Depends(scope("read")),
                  svc: Service = Depends(service)) -> list[dict[str, Any]]:
    """Firing and resolved transitions, newest first, with webhook deliveries (read)."""
    return alerts.history(svc.store, limit, admin="admin" in scopes)
