"""``mg.monitor.Client``: log predictions to the service without losing them or storing them twice.

Events are buffered and sent in batches. Each batch gets its id when it is cut and is
written to the spool directory (atomically) before the first send; it leaves the spool
only once the server acknowledged it (2xx, which the server sends after its commit). A
send that fails is retried with exponential backoff (honouring Retry-After); a batch
still unsent stays in the spool and goes out first on the next flush, also from a new
process. Because the id never changes, a retry of a batch that did land is
acknowledged as a duplicate and not stored again.

Several clients (threads or processes) may share one spool directory (the default one
is derived from the model name): a batch is sent by whoever holds its file's lock
(``flock``), and a file another client already delivered is simply gone. A refusal that
can be mended (401 unknown key, 403 scope, 404 unknown model) leaves the batch in the
spool, to go out once the key or the model is fixed; only a batch the server will never
take (422, 409, 413, ...) moves to ``rejected/``.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from mathguard.errors import InputError
from mathguard.params import COUNT, Int, NON_NEGATIVE, POSITIVE, declare

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows: no locks; a vanished file still counts as sent by another)
    fcntl = None  # type: ignore[assignment]

RETRYABLE = (408, 429, 500, 502, 503, 504)
MENDABLE = (401, 403, 404)  # the key or the model is wrong: kept in the spool, sent again once fixed


class _Transient(Exception):
    """A request that may succeed when tried again."""


def default_spool(model: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mathguard" / "spool" / model


class Client:
    """Buffered, retried, spooled logging of one model's predictions to a ``mathguard serve`` server."""

    @declare(batch_size=COUNT, retries=Int(0), backoff=NON_NEGATIVE, max_backoff=NON_NEGATIVE, timeout=POSITIVE)
    def __init__(self, url: str, token: str, model: str, *, batch_size: int = 1000, spool_dir: str | os.PathLike[str]
                 | None = None, retries: int = 5, backoff: float = 0.2, max_backoff: float = 10.0,
                 timeout: float = 10.0) -> None:
        self.model, self.batch_size, self.retries = model, batch_size, retries
        self.backoff, self.max_backoff = backoff, max_backoff
        self.spool = Path(spool_dir) if spool_dir is not None else default_spool(model)  # made when first written
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}", "content-type": "application/json"})
        self._rows: dict[str, list[np.ndarray]] = {"features": [], "proba": [], "labels": [], "alarms": [],
                                                   "timestamps": []}
        self._buffered = 0

    # ---------------------------------------------------------------- logging
    def log(self, features: Any, proba: Any = None, labels: Any = None, alarms: Any = None, *,
            timestamps: Any = None) -> None:
        """Buffer events (one row each, stamped now unless ``timestamps``, epoch seconds, say when they
        happened); full batches are sent at once.

        ``features`` and ``proba`` may be anything ``mg.Guard`` takes: a DataFrame, a non-contiguous or
        float32/int array, nested lists; ``labels`` integer class indices (a Series too). A value that is
        not a number is an ``InputError`` naming the argument; nothing is buffered then."""
        x = _matrix(features, "features")
        n = len(x)
        stamps = np.full(n, time.time()) if timestamps is None else _vector(timestamps, "timestamps", n, np.float64)
        if not np.isfinite(stamps).all():
            raise InputError("timestamps must be finite epoch seconds")
        parts = {"features": x, "timestamps": stamps,
                 "proba": None if proba is None else _matrix(proba, "proba", n),
                 "labels": None if labels is None else _vector(labels, "labels", n, np.int64),
                 "alarms": None if alarms is None else _vector(alarms, "alarms", n, bool)}
        for key, value in parts.items():
            if (value is None) != (not self._rows[key]) and self._buffered:
                self.flush()  # a change in which fields are given starts a new batch
                break
        for key, value in parts.items():
            if value is not None:
                self._rows[key].append(value)
        self._buffered += n
        if self._buffered >= self.batch_size:
            self.flush()

    def flush(self) -> int:
        """Cut the buffer into batches, spool them and send everything spooled; the number still unsent."""
        self._cut()
        unsent = 0
        for path in sorted(self.spool.glob("*.json")):
            if not self._send(path):
                unsent += 1
        return unsent

    def close(self) -> int:
        """Flush and close the connection; the number of batches left in the spool."""
        try:
            return self.flush()
        finally:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---------------------------------------------------------------- the service's other face
    def register(self, profile: Any, *, label_counts: Any = None) -> dict[str, Any]:
        """Register this client's model with its reference ``profile`` (a ``mg.drift.Profile``, its
        document or a path to its JSON); needs an admin key. ``label_counts`` (one count per class) is the
        reference's label distribution for label drift; without it the reference's predicted classes stand in.
        A refusal (taken name, bad profile, missing scope) is an ``InputError`` with the server's reason."""
        doc = _profile_doc(profile)
        body: dict[str, Any] = {"name": self.model, "profile": doc}
        if label_counts is not None:
            body["label_counts"] = [int(c) for c in np.asarray(label_counts).reshape(-1)]
        return self._call("POST", "/v1/models", body)

    def add_alert(self, name: str, *, metric: str, op: str = ">", threshold: float, window: str = "1h",
                  for_: str = "0s", webhooks: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """Add an alert rule on this model (admin key): fires once ``metric op threshold`` held over the last
        ``window`` for ``for_``; ``webhooks`` are POSTed a Finding on each transition."""
        return self._call("POST", f"/v1/models/{self.model}/alerts",
                          {"name": name, "metric": metric, "op": op, "threshold": threshold, "window": window,
                           "for": for_, "webhooks": list(webhooks)})

    def alerts(self) -> list[dict[str, Any]]:
        """This model's alert rules with their state (read key; webhook URLs masked unless admin)."""
        return self._call("GET", f"/v1/models/{self.model}/alerts")

    def delete_alert(self, name: str) -> None:
        """Remove one of this model's rules (admin key)."""
        self._call("DELETE", f"/v1/models/{self.model}/alerts/{name}")

    def models(self) -> list[dict[str, Any]]:
        """Every registered model (read key)."""
        return self._call("GET", "/v1/models")

    def drift(self, *, window: str = "1h", start: Any = None, end: Any = None) -> dict[str, Any]:
        """This model's per-window drift, entropy, quality and linear algebra (read key)."""
        params = {"window": window, **({"start": str(start)} if start is not None else {}),
                  **({"end": str(end)} if end is not None else {})}
        return self._call("GET", f"/v1/models/{self.model}/drift", params=params)

    # ---------------------------------------------------------------- training runs
    def log_step(self, run: str, step: int, metrics: dict[str, float], *, at: float | None = None) -> dict[str, Any]:
        """Record one step of training run ``run`` of this model (ingest key): ``metrics`` such as loss, gradient
        norm, a condition number. A value that is not finite is recorded as such (null) and reported by the
        run's summary. Sent at once; a retry of a stored step is acknowledged, not stored twice."""
        return self.log_steps(run, [{"step": step, "metrics": metrics, **({"at": at} if at is not None else {})}])

    def log_steps(self, run: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
        """Record several steps at once: ``[{"step": 0, "metrics": {...}, "at"?: seconds}, ...]``."""
        clean = []
        for item in steps:
            values = {}
            for name, value in dict(item["metrics"]).items():
                number = float(value)  # numpy and torch scalars too
                values[str(name)] = number if np.isfinite(number) else None
            clean.append({**item, "step": int(item["step"]), "metrics": values})
        for attempt in range(self.retries + 1):
            try:
                return self._call("POST", f"/v1/models/{self.model}/runs/{run}/steps", {"steps": clean},
                                  transient=attempt < self.retries)
            except _Transient:
                time.sleep(min(self.max_backoff, self.backoff * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def runs(self) -> list[dict[str, Any]]:
        """This model's training runs: steps, last value of each metric, findings (read key)."""
        return self._call("GET", f"/v1/models/{self.model}/runs")

    def run(self, run: str) -> dict[str, Any]:
        """One run's summary and every step's metrics (read key)."""
        return self._call("GET", f"/v1/models/{self.model}/runs/{run}")

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None, *,
              transient: bool = False) -> Any:
        """One request; a refusal is an InputError with the server's reason. With ``transient``, a transport
        error or a retryable status raises ``_Transient`` instead (the caller retries)."""
        try:
            response = self._http.request(method, path, params=params,
                                          content=None if body is None else orjson.dumps(body))
        except httpx.TransportError as exc:
            if transient:
                raise _Transient() from None
            raise InputError(f"cannot reach the monitor at {self._http.base_url}: {exc}") from None
        if transient and response.status_code in RETRYABLE:
            raise _Transient()
        if response.status_code >= 300:
            raise InputError(f"the monitor refused {method} {path} ({response.status_code}): {_detail(response)}")
        return None if response.status_code == 204 or not response.content else response.json()

    # ---------------------------------------------------------------- internals
    def _cut(self) -> None:
        if not self._buffered:
            return
        cols = {k: np.concatenate(v) for k, v in self._rows.items() if v}
        for k in self._rows:
            self._rows[k] = []
        self._buffered = 0
        for lo in range(0, len(cols["features"]), self.batch_size):
            # time-ordered file names keep the spool in logging order
            batch_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
            doc: dict[str, Any] = {"batch_id": batch_id}
            for key, arr in cols.items():
                doc[key] = arr[lo : lo + self.batch_size]
            doc["timestamps"] = doc["timestamps"].tolist()
            if "alarms" in doc:
                doc["alarms"] = doc["alarms"].tolist()
            self._write(batch_id, orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY))

    def _write(self, batch_id: str, body: bytes) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        tmp = self.spool / f".{batch_id}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.spool / f"{batch_id}.json")

    def _send(self, path: Path) -> bool:
        """Send one spooled batch; True once acknowledged (then the file is gone) or taken by another client."""
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            return True  # another client delivered it meanwhile
        with fh:
            if fcntl is not None:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return True  # another client is sending it right now
            if os.fstat(fh.fileno()).st_nlink == 0:
                return True  # delivered and removed by another client before we got the lock
            return self._post(path, fh.read())

    def _post(self, path: Path, body: bytes) -> bool:
        for attempt in range(self.retries + 1):
            wait = min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
            try:
                response = self._http.post(f"/v1/models/{self.model}/events", content=body)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code < 300:
                path.unlink(missing_ok=True)
                return True
            if response is not None and response.status_code in MENDABLE:
                raise InputError(f"the monitor refused batch {path.stem} ({response.status_code}): "
                                 f"{_detail(response)}; it stays in {self.spool} and is sent again on the next flush")
            if response is not None and response.status_code not in RETRYABLE:
                rejected = self.spool / "rejected"
                rejected.mkdir(exist_ok=True)
                os.replace(path, rejected / path.name)
                raise InputError(f"the monitor rejected batch {path.stem} ({response.status_code}): "
                                 f"{_detail(response)}")
            if response is not None and response.headers.get("retry-after", "").isdigit():
                wait = max(wait, float(response.headers["retry-after"]))
            if attempt < self.retries:
                time.sleep(wait)
        return False


def _profile_doc(profile: Any) -> dict[str, Any]:
    if isinstance(profile, dict):
        return profile
    if isinstance(profile, (str, os.PathLike)):
        try:
            return orjson.loads(Path(profile).read_bytes())
        except orjson.JSONDecodeError as exc:
            raise InputError(f"profile {profile}: not JSON ({str(exc).splitlines()[0]})") from None
    if hasattr(profile, "to_dict"):
        return profile.to_dict()
    raise InputError(f"profile must be a mg.drift.Profile, its document or a path, got {type(profile).__name__}")


def _values(data: Any) -> np.ndarray:
    if hasattr(data, "to_numpy") and not isinstance(data, np.ndarray):  # pandas (a DataFrame, a Series)
        data = data.to_numpy()
    return np.asarray(data)


def _matrix(data: Any, name: str, n: int | None = None) -> np.ndarray:
    """A C-contiguous float64 matrix of ``data`` (one row per event), or a one-line InputError."""
    try:
        arr = _values(data)
        if arr.dtype == bool or arr.dtype.kind not in "biuf":
            arr = arr.astype(np.float64)  # object columns of numbers (and None) are fine; text is not
        arr = np.ascontiguousarray(np.atleast_2d(arr), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must hold numbers (NaN or None for a missing value): "
                         f"{str(exc).splitlines()[0][:120]}") from None
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-d table (one row per event), got {arr.ndim} dimensions")
    if n is not None and len(arr) != n:
        raise InputError(f"{name} has {len(arr)} rows but features has {n}")
    if np.isinf(arr).any():
        raise InputError(f"{name} holds an infinite value (JSON cannot carry it; NaN marks a missing one)")
    return arr


def _vector(data: Any, name: str, n: int, dtype: Any) -> np.ndarray:
    arr = _values(data).reshape(-1)
    if len(arr) != n:
        raise InputError(f"{name} has {len(arr)} values but features has {n} rows")
    if dtype is np.int64:
        if arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise InputError(f"{name} must be integer class indices")
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{name} must be integer class indices, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text or response.reason_phrase
    return str(detail).splitlines()[0][:300] if detail else response.reason_phrase
