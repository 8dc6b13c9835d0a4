"""Training runs: steps streamed by ``mg.training.Monitor(client=...)``, their series and findings."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from mathguard.monitor import runs
from mathguard.monitor.deps import NAME, ApiError, Service, model, scope, service
from mathguard.monitor.store import Model

router = APIRouter(tags=["runs"])


class StepIn(BaseModel):
    step: int = Field(ge=0, le=2**53)
    metrics: dict[str, float | None] = Field(description="Metric values; null records one that was not finite")
    at: float | None = Field(None, description="Epoch seconds (default: when received)")


class StepsIn(BaseModel):
    """Documents the steps body; the endpoint parses it itself (``runs.parse_steps``)."""

    steps: list[StepIn] = Field(min_length=1, max_length=10_000)


@router.post("/v1/models/{name}/runs/{run}/steps", status_code=201, dependencies=[Depends(scope("ingest"))],
             responses={200: {"description": "Every step was stored before: nothing new"},
                        409: {"description": "A step stored before with other metrics"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": StepsIn.model_json_schema()}}}})
async def add_steps(request: Request, response: Response, run: str = Path(pattern=NAME),
                    m: Model = Depends(model), svc: Service = Depends(service)) -> dict[str, Any]:
    """Record steps of a training run (ingest); a step stored before is acknowledged, not stored again."""
    body = await request.body()
    if len(body) > svc.settings.max_admin_body_bytes:
        raise ApiError(413, f"body exceeds {svc.settings.max_admin_body_bytes} bytes", "too_large")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {str(exc).splitlines()[0]}", "bad_request") from None
    steps = runs.parse_steps(doc, time.time())
    result = await run_in_threadpool(runs.add_steps, svc.store, m, run, steps)
    if not result["stored"]:
        response.status_code = 200
    return {"run": run, **result}


@router.get("/v1/models/{name}/runs", dependencies=[Depends(scope("read"))])
def list_runs(m: Model = Depends(model), svc: Service = Depends(service)) -> list[dict[str, Any]]:
    """The model's training runs: steps, last value of each metric, findings (read)."""
    return runs.runs(svc.store, m)


@router.get("/v1/models/{name}/runs/{run}", dependencies=[Depends(scope("read"))])
def get_run(run: str = Path(pattern=NAME), m: Model = Depends(model), svc: Service = Depends(service)
            ) -> dict[str, Any]:
    """One run's summary and every step's metrics (read)."""
    found = runs.run_detail(svc.store, m, run)
    if found is None:
        raise ApiError(404, f"model {m.name!r} has no run {run!r}", "not_found")
    return found
