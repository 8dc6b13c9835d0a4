"""What every route depends on: the server's parts (``app.state.service``), the API key's scopes, the model.

Each route takes these as FastAPI dependencies instead of closing over ``create_app``'s locals,
so a route module needs nothing but this one and the parts it calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from fastapi import Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from mathguard.errors import InputError
from mathguard.monitor.admission import Admission
from mathguard.monitor.config import Settings
from mathguard.monitor.events import TooLarge, parse_time
from mathguard.monitor.metrics import Metrics
from mathguard.monitor.store import Conflict, Model, Store
from mathguard.monitor.webhooks import Outbox
from mathguard.monitor.worker import Worker

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
MAX_TIME = 1e11  # query times beyond the year 5000 are refused (and fit every integer column)


class ApiError(Exception):
    """A refusal: HTTP status, one-line reason, the metrics label, extra headers."""

    def __init__(self, status: int, detail: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.reason, self.headers = status, detail, reason, headers or {}


def from_input_error(exc: InputError, retry_after: int) -> ApiError:
    if isinstance(exc, TooLarge):
        return ApiError(413, str(exc), "too_large", {"Retry-After": str(retry_after)})
    if isinstance(exc, Conflict):
        return ApiError(409, str(exc), "conflict")
    return ApiError(422, str(exc).splitlines()[0], "bad_request")


@dataclass
class Service:
    """The parts of one server process, shared by its routes."""

    store: Store
    settings: Settings
    worker: Worker
    metrics: Metrics
    outbox: Outbox
    admission: Admission
    background: bool  # the worker and the outbox run as threads (False: a test steps them by hand)


def service(request: Request) -> Service:
    return request.app.state.service


_bearer = HTTPBearer(auto_error=False)


def scope(name: str) -> Callable[..., Any]:
    """A dependency that admits a key holding scope ``name`` and gives the key's scopes (401/403 otherwise)."""

    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Security(_bearer)
                    ) -> set[str]:
        if credentials is None:
            raise ApiError(401, "missing API key: send Authorization: Bearer <key>", "unauthorized",
                           {"WWW-Authenticate": "Bearer"})
        scopes = await run_in_threadpool(service(request).store.scopes, credentials.credentials)
        if scopes is None:
            raise ApiError(401, "unknown or revoked API key", "unauthorized", {"WWW-Authenticate": "Bearer"})
        if name not in scopes:
            raise ApiError(403, f"this key lacks the {name!r} scope", "forbidden")
        return scopes

    return check


async def model(request: Request, name: str = Path(pattern=NAME)) -> Model:
    """The model named in the path (404 if unknown)."""
    store = service(request).store
    # A registered model never changes: once known it is answered here, without a thread hop.
    found = store.known_model(name) or await run_in_threadpool(store.model, name)
    if found is None:
        raise ApiError(404, f"unknown model {name!r}; register it with POST /v1/models", "not_found")
    return found


def query_time(text: str) -> float:
    """A query time: ISO 8601 or epoch seconds."""
    try:
        value: str | float = float(text)
    except ValueError:
        value = text
    return parse_time(value)
