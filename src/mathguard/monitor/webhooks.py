"""Webhook side effects: a destination policy, URL masking, and delivery from a durable outbox on its own thread.

An alert transition writes one ``webhook_outbox`` row per webhook in the same transaction
as the rule's state change, so a crash (even ``kill -9``) between the two loses nothing:
the ``Outbox`` thread of whichever process runs next delivers what is pending. A row being
sent holds a lease (``next_at``); a row whose lease ran out (its sender died) is sent again,
so delivery is at least once. Each POST has a timeout; a 5xx, 408, 429 or transport error
is retried with backoff up to ``MAX_ATTEMPTS``; other 4xx answers are final. Nothing of
this runs on the folding worker, so a slow webhook delays no model's windows.

Destinations: http(s) only, no credentials in the URL, and (unless the operator allows it)
no loopback, private, link-local, multicast or reserved address — checked when the rule is
written (literal addresses, names that resolve there) and again before every delivery
(the name may have moved). ``mask`` shows a URL to non-admin keys as scheme and host only.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from mathguard.errors import InputError
from mathguard.monitor import schema as t
from mathguard.monitor.config import Settings
from mathguard.monitor.store import Store

log = logging.getLogger("mathguard.monitor")
MAX_ATTEMPTS = 5
MAX_URL = 2000


def mask(url: str) -> str:
    """The URL as a read key sees it: scheme and host, the rest (paths and queries often hold secrets) hidden."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return "***"
    return f"{parts.scheme}://{host}/***"


def _refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _host_allowed(host: str, settings: Settings) -> bool:
    if not settings.webhook_hosts:
        return True
    host = host.lower().rstrip(".")
    return any(host == h or (h.startswith(".") and host.endswith(h)) for h in settings.webhook_hosts)


def check_url(url: str, settings: Settings, *, resolve: bool = True) -> str:
    """``url`` if the policy lets the service POST to it; otherwise an InputError saying why (one line)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise InputError(f"a webhook must be a URL of 1 to {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise InputError(f"webhook {mask(url)!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InputError(f"webhooks must be http(s) URLs, got {url[:60]!r}")
    if parts.username or parts.password:
        raise InputError("a webhook URL must not carry credentials (user:password@)")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise InputError("a webhook URL must not contain spaces or control characters")
    if not _host_allowed(host, settings):
        raise InputError(f"webhook host {host!r} is not in the server's allowed webhook hosts")
    if settings.allow_private_webhooks:
        return url
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
            raise InputError(f"webhook host {host!r} is a loopback name; private destinations are refused "
                             "(the operator may allow them: mathguard serve --allow-private-webhooks)") from None
        if not resolve:
            return url
        try:
            addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, parts.port or 443,
                                                                         type=socket.SOCK_STREAM)})
        except (OSError, UnicodeError):
            return url  # not resolvable now: checked again before every delivery
    bad = [a for a in addresses if _refused(a)]
    if bad:
        raise InputError(f"webhook host {host!r} points to {bad[0]}, a loopback, private, link-local or reserved "
                         "address; refused (the operator may allow it: mathguard serve --allow-private-webhooks)")
    return url


def enqueue(conn: Any, event_id: int, urls: list[str], payload: str, now: float) -> None:
    """Queue one delivery per URL, inside the caller's transaction (the alert transition's)."""
    if urls:
        conn.execute(t.webhook_outbox.insert(), [
            dict(event_id=event_id, url=u, payload=payload, state="pending", attempts=0, next_at=now, updated_at=now)
            for u in urls])


def deliveries(store: Store, event_ids: list[int], admin: bool) -> dict[int, list[dict[str, Any]]]:
    """Per alert event: its webhook deliveries (url masked unless ``admin``, state, last status or error)."""
    if not event_ids:
        return {}
    o = t.webhook_outbox.c
    out: dict[int, list[dict[str, Any]]] = {}
    with store.reader.connect() as conn:
        for row in conn.execute(sa.select(t.webhook_outbox).where(o.event_id.in_(event_ids)).order_by(o.id)):
            item: dict[str, Any] = {"url": row.url if admin else mask(row.url), "state": row.state,
                                    "attempts": row.attempts}
            if row.status is not None:
                item["status"] = row.status
            if row.error is not None:
                item["error"] = row.error
            out.setdefault(row.event_id, []).append(item)
    return out


def pending_count(store: Store) -> int:
    o = t.webhook_outbox.c
    with store.reader.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(o.state.in_(("pending", "sending")))).scalar_one())


class Outbox(threading.Thread):
    """Delivers queued webhooks, apart from the folding worker; ``stop()`` ends it after the current round."""

    def __init__(self, store: Store, settings: Settings, interval: float = 0.5) -> None:
        super().__init__(name="mathguard-monitor-webhooks", daemon=True)
        self.store, self.settings, self.interval = store, settings, interval
        self._halt = threading.Event()
        self.last_round_at = time.time()
        self.last_error: str | None = None

    def run(self) -> None:
        with httpx.Client(timeout=self.settings.webhook_timeout_s, follow_redirects=False) as http:
            while not self._halt.wait(self.interval):
                try:
                    while self.deliver_due(http) and not self._halt.is_set():
                        pass
                    self.last_error = None
                except Exception as exc:  # the thread must live on; /healthz shows the error
                    self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                    log.exception("webhook delivery round failed")
                self.last_round_at = time.time()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def deliver_due(self, http: httpx.Client, limit: int = 10) -> int:
        """Claim up to ``limit`` due rows (lease), POST each, record the outcome; the number handled."""
        now = time.time()
        o = t.webhook_outbox.c
        with self.store.reader.connect() as conn:
            due = conn.execute(sa.select(o.id, o.state, o.attempts).where(
                o.state.in_(("pending", "sending")), o.next_at <= now).order_by(o.next_at).limit(limit)).all()
        lease = now + 2 * self.settings.webhook_timeout_s + 2  # a sender that died frees the row then
        handled = 0
        for row in due:
            with self.store.engine.begin() as conn:
                claimed = conn.execute(t.webhook_outbox.update().where(
                    o.id == row.id, o.state == row.state, o.attempts == row.attempts, o.next_at <= now)
                    .values(state="sending", attempts=row.attempts + 1, next_at=lease, updated_at=now)).rowcount
                item = conn.execute(sa.select(o.url, o.payload).where(o.id == row.id)).first() if claimed else None
            if item is None:
                continue  # another process took it
            self._send(http, row.id, row.attempts + 1, item.url, item.payload)
            handled += 1
        return handled

    def _send(self, http: httpx.Client, row_id: int, attempt: int, url: str, payload: str) -> None:
        status: int | None = None
        error: str | None = None
        try:
            check_url(url, self.settings)  # again: the name may resolve elsewhere now
            status = http.post(url, content=payload.encode(), headers={"content-type": "application/json"}).status_code
        except InputError as exc:
            error = f"refused by policy: {exc}"[:200]
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        retry = status is None or status >= 500 or status in (408, 429)
        if status is not None and status < 300:
            state = "delivered"
        elif error is not None and error.startswith("refused"):
            state = "failed"
        elif retry and attempt < MAX_ATTEMPTS:
            state = "pending"
        else:
            state = "failed"
        now = time.time()
        o = t.webhook_outbox.c
        with self.store.engine.begin() as conn:
            conn.execute(t.webhook_outbox.update().where(o.id == row_id).values(
                state=state, status=status, error=error, updated_at=now,
                next_at=now + min(300.0, 0.5 * 4 ** (attempt - 1)) if state == "pending" else now))
