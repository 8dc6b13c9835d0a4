"""The service itself: the dashboard page and its data, Prometheus metrics, health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mathguard.monitor.config import parse_duration
from mathguard.monitor.dashboard import MAX_WINDOW, dashboard_data, dashboard_html, default_window
from mathguard.monitor.deps import ApiError, Service, scope, service

router = APIRouter()


@router.get("/v1/dashboard", include_in_schema=False)
def dashboard_json(window: str | None = Query(None, max_length=20), scopes: set[str] = Depends(scope("read")),
                   svc: Service = Depends(service)) -> dict[str, Any]:
    resolution = svc.settings.resolution_s
    width = default_window(resolution) if window is None else parse_duration(window, maximum=MAX_WINDOW)
    if width % resolution:
        raise ApiError(422, f"window must be a multiple of the server's resolution ({resolution} s)", "bad_request")
    return dashboard_data(svc.store, svc.settings, width, admin="admin" in scopes, worker=svc.worker)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard() -> HTMLResponse:
    return HTMLResponse(dashboard_html())


@router.get("/metrics", include_in_schema=False)
def prometheus(svc: Service = Depends(service)) -> Response:
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", tags=["service"])
def health(response: Response, svc: Service = Depends(service)) -> dict[str, Any]:
    """The process and its workers: 503 when the folding worker is dead or stalled; ``ok`` is false
    (status "degraded") while a model's processing fails or a duty errs, with the reasons."""
    worker, outbox = svc.worker, svc.outbox
    state = worker.health()
    failures = worker.failure_list()
    down = state["running"] and (not state["alive"] or state["stalled"])
    hooks = {"alive": outbox.is_alive() if svc.background else None, "error": outbox.last_error}
    if svc.background and not outbox.is_alive():
        down = True
    status = "down" if down else "degraded" if failures or state["errors"] or outbox.last_error else "ok"
    if down:
        response.status_code = 503
    return {"ok": status == "ok", "status": status, "backlog": worker.backlog, "worker": state,
            "webhooks": hooks, "failed_models": failures}
