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

import gc
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mathguard.errors import InputError
from mathguard.monitor.admission import Admission
from mathguard.monitor.config import Settings
from mathguard.monitor.dashboard import dashboard_html
from mathguard.monitor.deps import ApiError, Service, from_input_error
from mathguard.monitor.metrics import Metrics
from mathguard.monitor.middleware import ServiceMiddleware, dashboard_csp
from mathguard.monitor.routes import ROUTERS
from mathguard.monitor.store import Store
from mathguard.monitor.webhooks import Outbox
from mathguard.monitor.worker import Worker


def create_app(settings: Settings | None = None, *, store: Store | None = None, worker: bool = True) -> FastAPI:
    """The ASGI app of one server; ``worker=False`` leaves folding to explicit ``app.state.service.worker.step()``."""
    settings = settings or Settings()
    store = store or Store(settings.db)
    store.migrate()
    metrics = Metrics(store, settings.resolution_s)
    background = Worker(store, settings, metrics)
    metrics.worker = background
    service = Service(store=store, settings=settings, worker=background, metrics=metrics,
                      outbox=Outbox(store, settings), background=worker,
                      admission=Admission(settings.max_inflight, settings.parse_budget_bytes))

    # No /docs or /redoc: their pages load scripts from a CDN (the schema stays at /openapi.json).
    app = FastAPI(title="mathguard monitor", version="1", lifespan=_lifespan, docs_url=None, redoc_url=None,
                  description="Prediction logs in; drift, entropy, accuracy and alerts per window out.")
    app.state.service = service
    app.add_middleware(ServiceMiddleware, settings=settings, page_csp=dashboard_csp(dashboard_html()),
                       on_refused=lambda reason: metrics.rejected.labels(reason).inc())

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        metrics.rejected.labels(exc.reason).inc()
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return await _api_error(request, from_input_error(exc, settings.retry_after_s))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return await _api_error(request, ApiError(422, f"{where}: {first.get('msg')}", "bad_request"))

    for router in ROUTERS:
        app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    svc: Service = app.state.service
    blas = None
    if svc.background:
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
        svc.worker.start()
        svc.outbox.start()
    yield
    if svc.background:
        svc.worker.stop()
        svc.outbox.stop()
    if blas is not None:
        blas.restore_original_limits()
        gc.set_threshold(*gc_thresholds)
        gc.unfreeze()
    svc.store.close()
