"""The HTTP API (FastAPI): register models, ingest event batches, read stats and drift, alerts, metrics.

Every refusal is one line in ``{"detail": ...}`` with the status that says why: 401 no or
unknown key, 403 the key lacks the scope, 404 unknown model, 408 body not received in
time, 409 name taken or a batch_id reused with other content, 413 too large, 415 not
JSON, 422 invalid content (every value is checked against what the window math can
carry: ``limits``), 429 busy (with Retry-After), 503 the model's folding has failed (its
events wait; the others are served). An ingest answer 2xx is sent only after the batch's
row is committed. Webhook URLs are shown in full to admin keys only.
"""

from __future__ import annotations

import asyncio
import gc
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

from mathguard.errors import InputError
from mathguard.monitor import alerts, runs
from mathguard.monitor.config import MAX_DURATION, Settings, parse_duration
from mathguard.monitor.dashboard import MAX_WINDOW, dashboard_data, dashboard_html, default_window
from mathguard.monitor.events import TooLarge, parse_batch, parse_time
from mathguard.monitor.limits import check_profile
from mathguard.monitor.metrics import Metrics
from mathguard.monitor.middleware import ServiceMiddleware, dashboard_csp
from mathguard.monitor.store import Conflict, Model, Store
from mathguard.monitor.webhooks import MAX_URL, Outbox
from mathguard.monitor.windows import Counts, drift_series, feature_histogram, summarize
from mathguard.monitor.worker import Worker, one_line

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
MAX_TIME = 1e11  # query times beyond the year 5000 are refused (and fit every integer column)


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
    label_counts: list[int] | None = Field(None, max_length=1000,
                                           description="The reference's label count per class (label drift); "
                                                       "without it the reference's predicted classes stand in")


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
    threshold: float = Field(allow_inf_nan=False, strict=True)
    window: str = Field("1h", max_length=20, description="Span of windows the metric covers, e.g. 1h")
    for_: str = Field("0s", alias="for", max_length=20, description="How long the condition must hold before firing")
    webhooks: list[str] = Field(default_factory=list, max_length=10,
                                description="http(s) URLs; private addresses refused unless the operator allows them")


class StepIn(BaseModel):
    step: int = Field(ge=0, le=2**53)
    metrics: dict[str, float | None] = Field(description="Metric values; null records one that was not finite")
    at: float | None = Field(None, description="Epoch seconds (default: when received)")


class StepsIn(BaseModel):
    """Documents the steps body; the endpoint parses it itself (``runs.parse_steps``)."""

    steps: list[StepIn] = Field(min_length=1, max_length=10_000)


def create_app(settings: Settings | None = None, *, store: Store | None = None, worker: bool = True) -> FastAPI:
    """The ASGI app of one server; ``worker=False`` leaves folding to explicit ``app.state.worker.step()``."""
    settings = settings or Settings()
    store = store or Store(settings.db)
    store.migrate()
    metrics = Metrics(store, settings.resolution_s)
    background = Worker(store, settings, metrics)
    metrics.worker = background
    outbox = Outbox(store, settings)
    inflight = 0
    parsing = _Budget(settings.parse_budget_bytes)  # bytes of bodies decoded at once: bounds ingest's memory

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        blas = None
        if worker:
            # BLAS on one thread while serving: the service's matrices are small (window blocks of p <=
            # max_linalg_features columns), and BLAS threads spinning beside the request threads cost more than
            # they give (folding 50 batches of 1,000 x 20 took 1.9 s with them, 0.13 s without, on a busy 2-core host).
            from threadpoolctl import threadpool_limits

            blas = threadpool_limits(limits=1, user_api="blas")
            # An ingest body becomes a thousand small lists, which set off the cyclic garbage collector over
            # and over, and each full pass walked every object the server holds (imports, caches): a tenth of
            # ingest's CPU. What exists at start-up is frozen out of those passes, and passes run less often.
            gc_thresholds = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(gc_thresholds[0], 50_000), *gc_thresholds[1:])
            background.start()
            outbox.start()
        yield
        if worker:
            background.stop()
            outbox.stop()
        if blas is not None:
            blas.restore_original_limits()
            gc.set_threshold(*gc_thresholds)
            gc.unfreeze()
        store.close()

    # No /docs or /redoc: their pages load scripts from a CDN (the schema stays at /openapi.json).
    app = FastAPI(title="mathguard monitor", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Prediction logs in; drift, entropy, accuracy and alerts per window out.")
    app.state.store, app.state.settings, app.state.worker, app.state.metrics = store, settings, background, metrics
    app.state.outbox = outbox
    app.add_middleware(ServiceMiddleware, settings=settings, page_csp=dashboard_csp(dashboard_html()),
                       on_refused=lambda reason: metrics.rejected.labels(reason).inc())
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

    def scope(name: str) -> Callable[..., Any]:
        async def check(credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> set[str]:
            if credentials is None:
                raise ApiError(401, "missing API key: send Authorization: Bearer <key>", "unauthorized",
                               {"WWW-Authenticate": "Bearer"})
            scopes = await run_in_threadpool(store.scopes, credentials.credentials)
            if scopes is None:
                raise ApiError(401, "unknown or revoked API key", "unauthorized", {"WWW-Authenticate": "Bearer"})
            if name not in scopes:
                raise ApiError(403, f"this key lacks the {name!r} scope", "forbidden")
            return scopes
        return check

    async def model(name: str = Path(pattern=NAME)) -> Model:
        # A registered model never changes: once known it is answered here, without a thread hop.
        found = store.known_model(name) or await run_in_threadpool(store.model, name)
        if found is None:
            raise ApiError(404, f"unknown model {name!r}; register it with POST /v1/models", "not_found")
        return found

    @app.post("/v1/models", status_code=201, dependencies=[Depends(scope("admin"))], tags=["models"])
    def register(body: ModelIn) -> dict[str, Any]:
        """Register a model with its reference profile (admin); every field of the profile is checked."""
        reference = check_profile(body.profile)
        try:  # the reference must be comparable with itself, or every window of the model would fail later
            summarize(reference, reference, Counts(reference.n_rows))
        except Exception as exc:
            raise ApiError(422, f"the profile cannot be compared: {one_line(exc)}", "bad_request") from None
        m = store.register_model(body.name, reference, settings.max_models, body.label_counts)
        return {"name": m.name, "n_features": m.n_features, "n_classes": m.n_classes,
                "prediction_drift": "measured" if m.n_classes else
                "n/a: the reference profile has no predictions (probabilities still give entropy and accuracy)"}

    @app.get("/v1/models", dependencies=[Depends(scope("read"))], tags=["models"])
    def list_models() -> list[dict[str, Any]]:
        out = []
        for m in store.models():
            item: dict[str, Any] = {"name": m.name, "n_features": m.n_features, "n_classes": m.n_classes}
            try:
                item["features"] = list(m.reference.features)
            except Exception as exc:  # a profile stored before the checks existed: say so, list the rest
                item["features"], item["error"] = [], one_line(exc)
            failures = background.failures_of(m.id)
            if failures:
                item["failures"] = failures
            out.append(item)
        return out

    @app.post("/v1/models/{name}/events", status_code=201, dependencies=[Depends(scope("ingest"))], tags=["events"],
              responses={200: {"description": "Duplicate batch_id: acknowledged, not stored again"},
                         408: {"description": "Body not received in time"},
                         409: {"description": "batch_id stored before with other content"},
                         413: {"description": "Body or batch too large"},
                         415: {"description": "Body not sent as application/json"},
                         429: {"description": "Busy; retry later"},
                         503: {"description": "This model's folding has failed; retry later"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": EventsIn.model_json_schema()}}}})
    async def ingest(request: Request, response: Response, m: Model = Depends(model)) -> dict[str, Any]:
        """Store one batch of events; the answer comes after the commit (ingest)."""
        nonlocal inflight
        retry = {"Retry-After": str(settings.retry_after_s)}
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ApiError(415, f"send the batch as application/json, not {kind[:60] or 'no content type'!r}",
                           "unsupported_media_type")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_body_bytes:
            raise ApiError(413, f"body of {length} bytes exceeds {settings.max_body_bytes}", "too_large", retry)
        if m.id in background.failed_ids("fold"):
            failure = background.failures_of(m.id)[0]
            raise ApiError(503, f"folding of model {m.name!r} has failed ({failure['error'][:120]}); its events are "
                           "not accepted until it is fixed, the other models are served", "unavailable",
                           {"Retry-After": str(max(settings.retry_after_s, 60))})
        if inflight >= settings.max_inflight or background.backlog >= settings.max_pending_events:
            raise ApiError(429, "server busy: too many batches in flight or waiting to be profiled", "busy", retry)
        inflight += 1
        try:
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
            async with parsing.take(len(body)):
                stored = await run_in_threadpool(_store_batch, m, body)
            del body
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

    def _store_batch(m: Model, body: bytearray) -> tuple[str, int, bool]:
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
        return batch.batch_id, batch.n, store.insert_batch(m, batch, now)

    @app.get("/v1/models/{name}/stats", dependencies=[Depends(scope("read"))], tags=["events"])
    def stats(m: Model = Depends(model)) -> dict[str, Any]:
        """Events stored and the time range they cover (read)."""
        return {"model": m.name, **store.stats(m)}

    @app.get("/v1/models/{name}/drift", dependencies=[Depends(scope("read"))], tags=["drift"])
    def drift(m: Model = Depends(model), window: str = Query("1h", max_length=20),
              start: str | None = Query(None, max_length=40), end: str | None = Query(None, max_length=40)
              ) -> dict[str, Any]:
        """Per-window verdict, per-feature PSI/KL/JS, entropy, accuracy, alarm rate (read); at the server's
        resolution each window's summary is the one stored when it was folded."""
        width = parse_duration(window, maximum=MAX_DURATION)
        stop = parse_time(_number(end)) if end else time.time()
        begin = parse_time(_number(start)) if start else stop - 24 * width
        if not (0 <= begin <= MAX_TIME and 0 <= stop <= MAX_TIME):
            raise ApiError(422, f"start and end must lie between 1970 and {MAX_TIME:.0e} s after it", "bad_request")
        series = drift_series(store, m, window=width, resolution=settings.resolution_s, start=begin, end=stop)
        return {"model": m.name, "window_s": width, "resolution_s": settings.resolution_s,
                "start": begin, "end": stop, "windows": series}

    @app.get("/v1/models/{name}/histogram", dependencies=[Depends(scope("read"))], tags=["drift"])
    def histogram(m: Model = Depends(model), feature: str = Query(max_length=1000),
                  window: str = Query("1h", max_length=20), end: str | None = Query(None, max_length=40)
                  ) -> dict[str, Any]:
        """One feature in the latest window before ``end`` against the reference: the reference's quantile bins,
        both shares per bin, PSI/KL/JS (the numbers of that window's drift summary) (read)."""
        width = parse_duration(window, maximum=MAX_DURATION)
        stop = parse_time(_number(end)) if end else time.time() + settings.clock_skew_s
        if not 0 <= stop <= MAX_TIME:
            raise ApiError(422, f"end must lie between 1970 and {MAX_TIME:.0e} s after it", "bad_request")
        try:
            return feature_histogram(store, m, feature, window=width, resolution=settings.resolution_s, end=stop)
        except KeyError:
            names = list(m.reference.features)
            raise ApiError(404, f"model {m.name!r} has no feature {feature[:100]!r}; its features: "
                           + ", ".join(names[:10]) + (" ..." if len(names) > 10 else ""), "not_found") from None

    @app.post("/v1/models/{name}/alerts", status_code=201, dependencies=[Depends(scope("admin"))], tags=["alerts"])
    def add_rule(body: RuleIn, m: Model = Depends(model)) -> dict[str, Any]:
        """Add an alert rule (admin)."""
        if any(len(u) > MAX_URL for u in body.webhooks):
            raise ApiError(422, f"webhooks: a URL may have at most {MAX_URL} characters", "bad_request")
        return alerts.create_rule(store, m, name=body.name, metric=body.metric, op=body.op,
                                  threshold=body.threshold, window_s=parse_duration(body.window, maximum=MAX_DURATION),
                                  for_s=parse_duration(body.for_, allow_zero=True, maximum=MAX_DURATION),
                                  webhooks=body.webhooks, resolution=settings.resolution_s, settings=settings)

    @app.get("/v1/models/{name}/alerts", tags=["alerts"])
    def list_rules(m: Model = Depends(model), scopes: set[str] = Depends(scope("read"))) -> list[dict[str, Any]]:
        """The model's rules (read); webhook URLs in full for admin keys only."""
        return alerts.rules(store, m, admin="admin" in scopes)

    @app.delete("/v1/models/{name}/alerts/{rule}", status_code=204, dependencies=[Depends(scope("admin"))],
                tags=["alerts"])
    def delete_rule(rule: str = Path(pattern=NAME), m: Model = Depends(model)) -> Response:
        if not alerts.delete_rule(store, m, rule):
            raise ApiError(404, f"model {m.name!r} has no rule {rule!r}", "not_found")
        return Response(status_code=204)

    @app.post("/v1/models/{name}/runs/{run}/steps", status_code=201, dependencies=[Depends(scope("ingest"))],
              tags=["runs"], responses={200: {"description": "Every step was stored before: nothing new"},
                                        409: {"description": "A step stored before with other metrics"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": StepsIn.model_json_schema()}}}})
    async def add_steps(request: Request, response: Response, run: str = Path(pattern=NAME),
                        m: Model = Depends(model)) -> dict[str, Any]:
        """Record steps of a training run (ingest); a step stored before is acknowledged, not stored again."""
        body = await request.body()
        if len(body) > settings.max_admin_body_bytes:
            raise ApiError(413, f"body exceeds {settings.max_admin_body_bytes} bytes", "too_large")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"malformed JSON: {str(exc).splitlines()[0]}", "bad_request") from None
        steps = runs.parse_steps(doc, time.time())
        result = await run_in_threadpool(runs.add_steps, store, m, run, steps)
        if not result["stored"]:
            response.status_code = 200
        return {"run": run, **result}

    @app.get("/v1/models/{name}/runs", dependencies=[Depends(scope("read"))], tags=["runs"])
    def list_runs(m: Model = Depends(model)) -> list[dict[str, Any]]:
        """The model's training runs: steps, last value of each metric, findings (read)."""
        return runs.runs(store, m)

    @app.get("/v1/models/{name}/runs/{run}", dependencies=[Depends(scope("read"))], tags=["runs"])
    def get_run(run: str = Path(pattern=NAME), m: Model = Depends(model)) -> dict[str, Any]:
        """One run's summary and every step's metrics (read)."""
        found = runs.run_detail(store, m, run)
        if found is None:
            raise ApiError(404, f"model {m.name!r} has no run {run!r}", "not_found")
        return found

    @app.get("/v1/alerts/history", tags=["alerts"])
    def alert_history(limit: int = Query(100, ge=1, le=1000),
                      scopes: set[str] = Depends(scope("read"))) -> list[dict[str, Any]]:
        """Firing and resolved transitions, newest first, with webhook deliveries (read)."""
        return alerts.history(store, limit, admin="admin" in scopes)

    @app.get("/v1/dashboard", include_in_schema=False)
    def dashboard_json(window: str | None = Query(None, max_length=20),
                       scopes: set[str] = Depends(scope("read"))) -> dict[str, Any]:
        width = default_window(settings.resolution_s) if window is None else parse_duration(window, maximum=MAX_WINDOW)
        if width % settings.resolution_s:
            raise ApiError(422, f"window must be a multiple of the server's resolution ({settings.resolution_s} s)",
                           "bad_request")
        return dashboard_data(store, settings, width, admin="admin" in scopes, worker=background)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(dashboard_html())

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["service"])
    def health(response: Response) -> dict[str, Any]:
        """The process and its workers: 503 when the folding worker is dead or stalled; ``ok`` is false
        (status "degraded") while a model's processing fails or a duty errs, with the reasons."""
        state = background.health()
        failures = background.failure_list()
        down = state["running"] and (not state["alive"] or state["stalled"])
        hooks = {"alive": outbox.is_alive() if worker else None, "error": outbox.last_error}
        if worker and not outbox.is_alive():
            down = True
        status = "down" if down else "degraded" if failures or state["errors"] or outbox.last_error else "ok"
        if down:
            response.status_code = 503
        return {"ok": status == "ok", "status": status, "backlog": background.backlog, "worker": state,
                "webhooks": hooks, "failed_models": failures}

    return app


class _Budget:
    """An async gate by weight: holders together take at most ``total`` (one alone may take more)."""

    def __init__(self, total: int) -> None:
        self.total, self.used = total, 0
        self._cond: asyncio.Condition | None = None

    @asynccontextmanager
    async def take(self, weight: int) -> AsyncIterator[None]:
        if self._cond is None:
            self._cond = asyncio.Condition()
        async with self._cond:
            await self._cond.wait_for(lambda: self.used == 0 or self.used + weight <= self.total)
            self.used += weight
        try:
            yield
        finally:
            async with self._cond:
                self.used -= weight
                self._cond.notify_all()


def _number(text: str) -> str | float:
    """Query times may be ISO 8601 or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        return text
