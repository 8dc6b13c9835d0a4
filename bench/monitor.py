"""The monitoring service under load: ingest events/s and latency, and the 30-day drift query, on SQLite and PostgreSQL.

A real server (``mathguard serve`` in a subprocess) on loopback; ``--clients`` threads post
pre-encoded 1,000-event batches of 20 features (and 3 class probabilities) as fast as the
server acknowledges them; each answer arrives after the batch's commit. Reported: sustained
events/s over the run and p50/p99 request latency. Then a second model gets one batch per
hour for 30 days (timestamps in the past) and ``GET /drift?window=1h`` over those 30 days is
timed twice: the first call computes every window summary the worker has not cached yet
(one drift.compare per window), the second reads the cached summaries. PostgreSQL runs in
a throwaway cluster (PostgreSQL 15 binaries required; skipped without them).

    python bench/monitor.py [--batches 300] [--clients 4] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
from _timing import timed

import mathguard as mg
from mathguard.monitor.pgtemp import PostgresCluster, free_port
from mathguard.monitor.store import Store

FEATURES, CLASSES, EVENTS = 20, 3, 1000


def start_server(db: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from mathguard.cli import main; main()", "serve", "--db", db,
                             "--port", str(port), "--max-pending-events", "100000000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def setup(db: str) -> tuple[str, str]:
    store = Store(db)
    store.migrate()
    keys = store.create_key("bench-admin", "admin"), store.create_key("bench", "ingest,read")
    store.close()
    return keys


def register(url: str, admin: str, name: str, rng: np.random.Generator) -> None:
    x, p = rng.normal(size=(20_000, FEATURES)), rng.dirichlet(np.ones(CLASSES), size=20_000)
    r = httpx.post(f"{url}/v1/models", json={"name": name, "profile": mg.drift.profile(x, p).to_dict()},
                   headers={"Authorization": f"Bearer {admin}"}, timeout=60)
    r.raise_for_status()


def bodies(n: int, rng: np.random.Generator, stamps: list[float] | None = None, events: int = EVENTS) -> list[bytes]:
    out = []
    for i in range(n):
        doc = {"batch_id": f"b{i}-{rng.integers(1 << 62)}", "features": rng.normal(size=(events, FEATURES)),
               "proba": rng.dirichlet(np.ones(CLASSES), size=events)}
        if stamps is not None:
            doc["timestamps"] = [stamps[i]] * events
        out.append(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY))
    return out


def ingest(url: str, key: str, model: str, payloads: list[bytes], clients: int) -> tuple[float, list[float]]:
    """Wall seconds to get every payload acknowledged, and each request's latency."""
    latencies: list[float] = []
    queue = list(payloads)
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}",
                                               "content-type": "application/json"}) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                while True:
                    t0 = time.perf_counter()
                    r = http.post(f"{url}/v1/models/{model}/events", content=body)
                    if r.status_code == 429:
                        time.sleep(float(r.headers.get("retry-after", 1)))
                        continue
                    r.raise_for_status()
                    with lock:
                        latencies.append(time.perf_counter() - t0)
                    break

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies


def wait_folded(url: str, key: str, model: str) -> None:
    while httpx.get(f"{url}/v1/models/{model}/stats", headers={"Authorization": f"Bearer {key}"}).json()[
            "pending_events"]:
        time.sleep(0.2)


def run(backend: str, db: str, args: argparse.Namespace) -> None:
    admin, key = setup(db)
    proc, url = start_server(db)
    rng = np.random.default_rng(0)
    try:
        register(url, admin, "load", rng)
        payloads = bodies(args.batches, rng)
        ingest(url, key, "load", payloads[:10], args.clients)  # warm-up (connections, first-import costs)
        wall, lat = ingest(url, key, "load", payloads[10:], args.clients)
        n = (len(payloads) - 10) * EVENTS
        p50, p99 = np.percentile(lat, [50, 99]) * 1000
        print(f"{backend:<10} ingest: {n / wall:>9,.0f} events/s ({n:,} events, {args.clients} clients), "
              f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms per {EVENTS}-event batch")
        if args.no_drift:
            return
        register(url, admin, "month", rng)
        hour, now = 3600, time.time()
        first = (now // hour - 30 * 24) * hour
        stamps = [first + i * hour + 1 for i in range(30 * 24)]
        ingest(url, key, "month", bodies(len(stamps), rng, stamps, events=args.month_events), args.clients)
        wait_folded(url, key, "month")
        params = {"window": "1h", "start": first, "end": now}
        for label in ("first (computes uncached summaries)", "second (cached summaries)"):
            seconds, r = timed(lambda: httpx.get(f"{url}/v1/models/month/drift", params=params, timeout=3600,
                                                 headers={"Authorization": f"Bearer {key}"}).raise_for_status())
            print(f"{backend:<10} drift 30 days at 1h ({len(r.json()['windows'])} windows), {label}: {seconds:.2f} s")
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300, help="1,000-event batches per backend")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--month-events", type=int, default=100, help="events in each of the 720 hourly batches")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-drift", action="store_true", help="time ingest only")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                run(backend, f"sqlite:///{Path(tmp) / 'bench.db'}", args)
        elif Path("/usr/lib/postgresql/15/bin/initdb").exists():
            cluster = PostgresCluster()
            try:
                run(backend, cluster.new_database(), args)
            finally:
                cluster.stop()
        else:
            print("postgresql: skipped (no PostgreSQL 15 binaries)")


if __name__ == "__main__":
    main()
