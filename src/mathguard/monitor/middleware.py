"""ASGI middleware of the service: body limits and read deadlines for every request, and security headers.

Ingest bodies are read by the ingest endpoint itself (after the key is checked, with its own
limit and deadline); every other request with a body (registration, rules) is read here in
full first, at most ``max_admin_body_bytes`` and within ``body_timeout_s``, so a huge or a
stalled body is refused (413 / 408) before any parsing. Every answer carries
``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``
and a Content-Security-Policy: the dashboard's own inline script (by hash) and styles, and
requests to this origin only; everything else gets ``default-src 'none'``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from typing import Any, Awaitable, Callable

import orjson

from mathguard.monitor.config import Settings

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

INGEST = re.compile(r"^/v1/models/[^/]+/events/?$")


def dashboard_csp(html: str) -> str:
    """The page's policy: its inline scripts by SHA-256, inline styles, fetches to this origin only."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
                      for body in re.findall(r"<script>(.*?)</script>", html, flags=re.S))
    return (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class ServiceMiddleware:
    """Body limit and deadline (non-ingest requests), and security headers (all responses)."""

    def __init__(self, app: ASGIApp, settings: Settings, page_csp: str,
                 on_refused: Callable[[str], None] | None = None) -> None:
        self.app, self.settings, self.page_csp, self.on_refused = app, settings, page_csp, on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        csp = self.page_csp if path == "/" else API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _SECURITY_NAMES]
                headers += [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer"), (b"content-security-policy", csp.encode())]
                message = {**message, "headers": headers}
            await send(message)

        if scope.get("method") in ("GET", "HEAD", "OPTIONS") or INGEST.match(path):
            await self.app(scope, receive, send_with_headers)
            return
        try:
            body = await self._read(scope, receive)
        except _Refused as exc:
            if self.on_refused is not None:
                self.on_refused("too_large" if exc.status == 413 else "timeout")
            await _answer(send_with_headers, exc.status, exc.detail)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect as the server would report it

        await self.app(scope, replay, send_with_headers)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.settings.max_admin_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise _Refused(413, f"body of {int(value)} bytes exceeds {limit}")
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Refused(400, "client disconnected before sending the whole body")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise _Refused(413, f"body exceeds {limit} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _Refused(408, f"the request body did not arrive within {self.settings.body_timeout_s:g} s") from None


_SECURITY_NAMES = {b"x-content-type-options", b"x-frame-options", b"referrer-policy", b"content-security-policy"}


async def _answer(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
