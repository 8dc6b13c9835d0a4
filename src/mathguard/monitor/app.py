"""The HTTP API (FastAPI): register models, ingest event batches, read stats and drift, alerts, metrics.

Every refusal is one line in ``{"detail": ...}`` with the status that says why: 401 no or
unknown key, 403 the key lacks the scope, 404 unknown model, 409 name taken, 413 too
large, 422 invalid content, 429 busy (with Retry-After). An ingest answer 2xx is sent
only after the batch's row is committed.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from mathguard.drift import Profile
from mathguard.errors import InputError
from mathguard.monitor import alerts
from mathguard.monitor.config import Settings, parse_duration
from mathguard.monitor.dashboard import dashboard_data, dashboard_html
from mathguard.monitor.events import TooLarge, parse_batch, parse_time
from mathguard.monitor.metrics import Metrics
from mathguard.monitor.store import Conflict, Model, Store
from mathguard.monitor.windows import drift_series
from mathguard.monitor.worker import Worker

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"


class ApiError(Exception):
    """A refusal: HTTP status, one-line reason, the metrics label, extra headers."""

    def __init__(self, status: int, detail: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.reason, self.headers = status, detail, reason, headers or {}


def _from_input_error(exc: InputError, retry_after: int) -> ApiError:
    if isinstance(exc, TooLarge):
        return ApiError(413, str(exc), "too_large", {"Retry-After": str(retry_after)})
    if isinstance(exc, Conflict):
        return ApiError(409, str(exc), "conflict")
    return ApiError(422, str(exc).splitlines()[0], "bad_request")


class ModelIn(BaseModel):
    name: str = Field(pattern=NAME, description="Model name (letters, digits, . _ -)")
    profile: dict[str, Any] = Field(description="The reference: a mathguard.profile/1 JSON object")


class EventsIn(BaseModel):
    """Documents the ingest body; the endpoint parses it itself (numpy, one pass) for speed."""

    batch_id: str = Field(min_length=1, max_length=200, description="Client id of the batch: a retry is not stored twice")
    features: list[list[float | None]] = Field(min_length=1, description="One row per event")
    proba: list[list[float]] | None = Field(None, description="Predicted class probabilities, one row per event")
    labels: list[int | None] | None = Field(None, description="True class per event, null where unknown")
    alarms: list[bool] | None = Field(None, description="The guard's detector verdict per event")
    timestamps: list[str | float] | None = Field(None, description="ISO 8601 (or epoch seconds) per event")


class RuleIn(BaseModel):
    name: str = Field(pattern=NAME)
    metric: str = Field(description=", ".join(alerts.METRICS))
    op: str = Field(">", description=", ".join(alerts.OPS))
    threshold: float
    window: str = Field("1h", description="Span of windows the metric covers, e.g. 1h")
    for_: str = Field("0s", alias="for", description="How long the condition must hold before firing")
    webhooks: list[str] = Field(default_factory=list, max_length=10)


def create_app(settings: Settings | None = None, *, store: Store | None = None, worker: bool = True) -> FastAPI:
    """The ASGI app of one server; ``worker=False`` leaves folding to explicit ``app.state.worker.step()``."""
    settings = settings or Settings()
    store = store or Store(settings.db)
    store.migrate()
    metrics = Metrics(store, settings.resolution_s)
    background = Worker(store, settings, metrics)
    inflight = 0

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if worker:
            background.start()
        yield
        if worker:
            background.stop()
        store.close()

    app = FastAPI(title="mathguard monitor", version="1", lifespan=lifespan,
                  description="Prediction logs in; drift, entropy, accuracy and alerts per window out.")
    app.state.store, app.state.settings, app.state.worker, app.state.metrics = store, settings, background, metrics
    bearer = HTTPBearer(auto_error=False)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        metrics.rejected.labels(exc.reason).inc()
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return await _api_error(request, _from_input_error(exc, settings.retry_after_s))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return await _api_error(request, ApiError(422, f"{where}: {first.get('msg')}", "bad_request"))

    def scope(name: str) -> Callable[..., None]:
        async def check(credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
            if credentials is None:
                raise ApiError(401, "missing API key: send Authorization: Bearer <key>", "unauthorized",
                               {"WWW-Authenticate": "Bearer"})
            scopes = await run_in_threadpool(store.scopes, credentials.credentials)
            if scopes is None:
                raise ApiError(401, "unknown or revoked API key", "unauthorized", {"WWW-Authenticate": "Bearer"})
            if name not in scopes:
                raise ApiError(403, f"this key lacks the {name!r} scope", "forbidden")
        return check

    async def model(name: str = Path(pattern=NAME)) -> Model:
        found = await run_in_threadpool(store.model, name)
        if found is None:
            raise ApiError(404, f"unknown model {name!r}; register it with POST /v1/models", "not_found")
        return found

    @app.post("/v1/models", status_code=201, dependencies=[Depends(scope("admin"))], tags=["models"])
    def register(body: ModelIn) -> dict[str, Any]:
        """Register a model with its reference profile (admin)."""
        m = store.register_model(body.name, Profile.from_dict(body.profile), settings.max_models)
        return {"name": m.name, "n_features": m.n_features, "n_classes": m.n_classes}

    @app.get("/v1/models", dependencies=[Depends(scope("read"))], tags=["models"])
    def list_models() -> list[dict[str, Any]]:
        return [{"name": m.name, "n_features": m.n_features, "n_classes": m.n_classes,
                 "features": list(m.reference.features)} for m in store.models()]

    @app.post("/v1/models/{name}/events", status_code=201, dependencies=[Depends(scope("ingest"))], tags=["events"],
              responses={200: {"description": "Duplicate batch_id: acknowledged, not stored again"},
                         413: {"description": "Body or batch too large"}, 429: {"description": "Busy; retry later"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": EventsIn.model_json_schema()}}}})
    async def ingest(request: Request, response: Response, m: Model = Depends(model)) -> dict[str, Any]:
        """Store one batch of events; the answer comes after the commit (ingest)."""
        nonlocal inflight
        retry = {"Retry-After": str(settings.retry_after_s)}
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_body_bytes:
            raise ApiError(413, f"body of {length} bytes exceeds {settings.max_body_bytes}", "too_large", retry)
        if inflight >= settings.max_inflight or background.backlog >= settings.max_pending_events:
            raise ApiError(429, "server busy: too many batches in flight or waiting to be profiled", "busy", retry)
        inflight += 1
        try:
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > settings.max_body_bytes:
                    raise ApiError(413, f"body exceeds {settings.max_body_bytes} bytes", "too_large", retry)
            started = time.perf_counter()
            stored = await run_in_threadpool(_store_batch, m, bytes(body))
            metrics.ingest_seconds.observe(time.perf_counter() - started)
        finally:
            inflight -= 1
        batch_id, n, new = stored
        metrics.batches.labels(m.name, "stored" if new else "duplicate").inc()
        if not new:
            response.status_code = 200
            return {"batch_id": batch_id, "stored": 0, "duplicate": True}
        metrics.events.labels(m.name).inc(n)
        background.backlog += n
        return {"batch_id": batch_id, "stored": n, "duplicate": False}

    def _store_batch(m: Model, body: bytes) -> tuple[str, int, bool]:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"malformed JSON: {str(exc).splitlines()[0]}", "bad_request") from None
        now = time.time()
        batch = parse_batch(doc, n_features=m.n_features, n_classes=m.n_classes, now=now,
                            max_events=settings.max_batch_events, clock_skew=settings.clock_skew_s)
        return batch.batch_id, batch.n, store.insert_batch(m, batch, now)

    @app.get("/v1/models/{name}/stats", dependencies=[Depends(scope("read"))], tags=["events"])
    def stats(m: Model = Depends(model)) -> dict[str, Any]:
        """Events stored and the time range they cover (read)."""
        return {"model": m.name, **store.stats(m)}

    @app.get("/v1/models/{name}/drift", dependencies=[Depends(scope("read"))], tags=["drift"])
    def drift(m: Model = Depends(model), window: str = Query("1h", max_length=20),
              start: str | None = Query(None, max_length=40), end: str | None = Query(None, max_length=40)
              ) -> dict[str, Any]:
        """Per-window verdict, per-feature PSI/KL/JS, entropy, accuracy, alarm rate (read)."""
        width = parse_duration(window)
        stop = parse_time(_number(end)) if end else time.time()
        begin = parse_time(_number(start)) if start else stop - 24 * width
        series = drift_series(store, m, window=width, resolution=settings.resolution_s, start=begin, end=stop)
        return {"model": m.name, "window_s": width, "resolution_s": settings.resolution_s,
                "start": begin, "end": stop, "windows": series}

    @app.post("/v1/models/{name}/alerts", status_code=201, dependencies=[Depends(scope("admin"))], tags=["alerts"])
    def add_rule(body: RuleIn, m: Model = Depends(model)) -> dict[str, Any]:
        """Add an alert rule (admin)."""
        return alerts.create_rule(store, m, name=body.name, metric=body.metric, op=body.op,
                                  threshold=body.threshold, window_s=parse_duration(body.window),
                                  for_s=parse_duration(body.for_, allow_zero=True),
                                  webhooks=body.webhooks, resolution=settings.resolution_s)

    @app.get("/v1/models/{name}/alerts", dependencies=[Depends(scope("read"))], tags=["alerts"])
    def list_rules(m: Model = Depends(model)) -> list[dict[str, Any]]:
        return alerts.rules(store, m)

    @app.delete("/v1/models/{name}/alerts/{rule}", status_code=204, dependencies=[Depends(scope("admin"))],
                tags=["alerts"])
    def delete_rule(rule: str = Path(pattern=NAME), m: Model = Depends(model)) -> Response:
        if not alerts.delete_rule(store, m, rule):
            raise ApiError(404, f"model {m.name!r} has no rule {rule!r}", "not_found")
        return Response(status_code=204)

    @app.get("/v1/alerts/history", dependencies=[Depends(scope("read"))], tags=["alerts"])
    def alert_history(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        """Firing and resolved transitions, newest first (read)."""
        return alerts.history(store, limit)

    @app.get("/v1/dashboard", dependencies=[Depends(scope("read"))], include_in_schema=False)
    def dashboard_json(window: str = Query("1h", max_length=20)) -> dict[str, Any]:
        return dashboard_data(store, settings, parse_duration(window))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(dashboard_html())

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["service"])
    def health() -> dict[str, Any]:
        return {"ok": True, "backlog": background.backlog}

    return app


def _number(text: str) -> str | float:
    """Query times may be ISO 8601 or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        return text
