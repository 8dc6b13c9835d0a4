"""Events: ingest one batch (admitted, bounded, answered after its commit), and what is stored."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from mathguard.monitor.deps import ApiError, Service, model, scope, service
from mathguard.monitor.events import parse_batch
from mathguard.monitor.store import Model

router = APIRouter(tags=["events"])


class EventsIn(BaseModel):
    """Documents the ingest body; the endpoint parses it itself (numpy, one pass) for speed."""

    batch_id: str = Field(min_length=1, max_length=200, description="Client id of the batch: a retry is not stored twice")
    features: list[list[float | None]] = Field(min_length=1, description="One row per event")
    proba: list[list[float]] | None = Field(None, description="Predicted class probabilities, one row per event")
    labels: list[int | None] | None = Field(None, description="True class per event, null where unknown")
    alarms: list[bool] | None = Field(None, description="The guard's detector verdict per event")
    timestamps: list[str | float] | None = Field(None, description="ISO 8601 (or epoch seconds) per event")


@router.post("/v1/models/{name}/events", status_code=201, dependencies=[Depends(scope("ingest"))],
             responses={200: {"description": "Duplicate batch_id: acknowledged, not stored again"},
                        408: {"description": "Body not received in time"},
                        409: {"description": "batch_id stored before with other content"},
                        413: {"description": "Body or batch too large"},
                        415: {"description": "Body not sent as application/json"},
                        429: {"description": "Busy; retry later"},
                        503: {"description": "This model's folding has failed; retry later"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": EventsIn.model_json_schema()}}}})
async def ingest(request: Request, response: Response, m: Model = Depends(model),
                 svc: Service = Depends(service)) -> dict[str, Any]:
    """Store one batch of events; the answer comes after the commit (ingest)."""
    settings, worker, metrics, admission = svc.settings, svc.worker, svc.metrics, svc.admission
    retry = {"Retry-After": str(settings.retry_after_s)}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, f"send the batch as application/json, not {kind[:60] or 'no content type'!r}",
                       "unsupported_media_type")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.max_body_bytes:
        raise ApiError(413, f"body of {length} bytes exceeds {settings.max_body_bytes}", "too_large", retry)
    if m.id in worker.failed_ids("fold"):
        failure = worker.failures_of(m.id)[0]
        raise ApiError(503, f"folding of model {m.name!r} has failed ({failure['error'][:120]}); its events are "
                       "not accepted until it is fixed, the other models are served", "unavailable",
                       {"Retry-After": str(max(settings.retry_after_s, 60))})
    if admission.inflight >= admission.max_inflight or worker.backlog >= settings.max_pending_events:
        raise ApiError(429, "server busy: too many batches in flight or waiting to be profiled", "busy", retry)
    async with admission.slot():
        body = bytearray()
        try:
            async with asyncio.timeout(settings.body_timeout_s):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > settings.max_body_bytes:
                        raise ApiError(413, f"body exceeds {settings.max_body_bytes} bytes", "too_large", retry)
        except TimeoutError:
            raise ApiError(408, f"the request body did not arrive within {settings.body_timeout_s:g} s",
                           "timeout", {"Connection": "close"}) from None
        started = time.perf_counter()
        async with admission.parsing.take(len(body)):
            batch_id, n, new = await run_in_threadpool(_store_batch, svc, m, body)
        del body
        metrics.ingest_seconds.observe(time.perf_counter() - started)
    metrics.batches.labels(m.name, "stored" if new else "duplicate").inc()
    if not new:
        response.status_code = 200
        return {"batch_id": batch_id, "stored": 0, "duplicate": True}
    metrics.events.labels(m.name).inc(n)
    worker.add_backlog(n)
    return {"batch_id": batch_id, "stored": n, "duplicate": False}


def _store_batch(svc: Service, m: Model, body: bytearray) -> tuple[str, int, bool]:
    settings = svc.settings
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {str(exc).splitlines()[0]}", "bad_request") from None
    now = time.time()
    batch = parse_batch(doc, n_features=m.n_features, n_classes=m.n_classes, now=now,
                        max_events=settings.max_batch_events, clock_skew=settings.clock_skew_s,
                        feature_names=list(m.reference.features), resolution=settings.resolution_s,
                        max_windows=settings.max_batch_windows)
    del doc
    return batch.batch_id, batch.n, svc.store.insert_batch(m, batch, now)


@router.get("/v1/models/{name}/stats", dependencies=[Depends(scope("read"))])
def stats(m: Model = Depends(model), svc: Service = Depends(service)) -> dict[str, Any]:
    """Events stored and the time range they cover (read)."""
    return {"model": m.name, **svc.store.stats(m)}
