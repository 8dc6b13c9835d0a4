"""The monitoring service under load: ingest events/s and latency, and the 30-day drift query, on SQLite and PostgreSQL.

A real server (``mathguard serve`` in a subprocess) on loopback; ``--clients`` threads post
pre-encoded 1,000-event batches of 20 features (and 3 class probabilities) as fast as the
server acknowledges them; each answer arrives after the batch's commit. Reported: sustained
events/s over the run and p50/p99 request latency. Then a second model gets one batch per
hour for 30 days (timestamps in the past); once the worker has folded them (each window's
drift summary is computed and stored when it is folded) the server is restarted, and
``GET /drift?window=1h`` over those 30 days is timed on the fresh process (cold: no
in-process cache) and again. PostgreSQL runs in a throwaway cluster (PostgreSQL 15
binaries required; skipped without them).

Every row names its target (issue #28): ingest >= 100,000 events/s with p99 <= 100 ms per
1,000-event batch (20 features, 4 clients), the cold 30-day drift query <= 1 s. The load
average of the machine is printed first: the client threads, the server and anything else
running share its cores, so the figures are this machine's at that load.

    python bench/monitor.py [--batches 300] [--clients 4] [--backends sqlite,postgresql]

``--soak --minutes M`` runs a soak instead: for M minutes the clients post 1,000-event batches
with 1 % hostile ones mixed in (overflowing floats, numbers as strings, huge labels, NUL in a
batch id, timestamps spread over weeks, a reused batch id with other content, broken JSON),
while a probe posts a small batch to a second model every 2 s and waits for it to be
folded. Printed: acknowledged events/s, p50/p99 latency of the valid batches, hostile
answers by status (any 5xx is a failure), the probe's fold lag (median / p99 / max: the
worker's lag as another model sees it), the largest fold backlog seen, and whether
``/healthz`` stayed ok and every acknowledged event was stored once.
"""

from __future__ import annotations

import argparse
import os
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
TARGET_EVENTS_S, TARGET_P99_MS, TARGET_COLD_S = 100_000, 100.0, 1.0


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        cpu_before = cpu_seconds(proc.pid)
        wall, lat = ingest(url, key, "load", payloads[10:], args.clients)
        cpu_after = cpu_seconds(proc.pid)
        n = (len(payloads) - 10) * EVENTS
        p50, p99 = np.percentile(lat, [50, 99]) * 1000
        rate = n / wall
        print(f"{backend:<10} ingest: {rate:>9,.0f} events/s ({n:,} events, {args.clients} clients)   "
              f"target >= {TARGET_EVENTS_S:,}: {verdict(rate >= TARGET_EVENTS_S)}")
        print(f"{backend:<10} ingest latency per {EVENTS}-event batch: p50 {p50:.1f} ms, p99 {p99:.1f} ms   "
              f"target p99 <= {TARGET_P99_MS:.0f} ms: {verdict(p99 <= TARGET_P99_MS)}")
        if cpu_before is not None and cpu_after is not None:
            used = cpu_after - cpu_before
            print(f"{backend:<10} server process CPU during ingest: {used / (len(payloads) - 10) * 1000:.1f} ms per "
                  f"batch, {used / wall:.0%} of one core (parsing, storing and folding share one interpreter)")
        if args.no_drift:
            return
        register(url, admin, "month", rng)
        hour, now = 3600, time.time()
        first = (now // hour - 30 * 24) * hour
        stamps = [first + i * hour + 1 for i in range(30 * 24)]
        ingest(url, key, "month", bodies(len(stamps), rng, stamps, events=args.month_events), args.clients)
        folding = time.perf_counter()
        wait_folded(url, key, "month")
        print(f"{backend:<10} folding the 720 hourly windows (profiles and drift summaries): "
              f"{time.perf_counter() - folding:.1f} s after the last acknowledgement")
        proc.terminate()  # a fresh process: nothing cached in memory, the query reads what is stored
        proc.wait()
        proc, url = start_server(db)
        params = {"window": "1h", "start": first, "end": now}
        for label in ("first call on a fresh server (cold)", "second call"):
            seconds, r = timed(lambda: httpx.get(f"{url}/v1/models/month/drift", params=params, timeout=3600,
                                                 headers={"Authorization": f"Bearer {key}"}).raise_for_status())
            target = f"   target <= {TARGET_COLD_S:g} s: {verdict(seconds <= TARGET_COLD_S)}" if "cold" in label else ""
            print(f"{backend:<10} drift 30 days at 1h ({len(r.json()['windows'])} windows), {label}: "
                  f"{seconds:.2f} s{target}")
    finally:
        proc.terminate()
        proc.wait()


HOSTILE = ("overflow", "overflow-1e155", "string-number", "label-2^63", "nul-batch-id", "spread-timestamps",
           "reused-id", "broken-json")


def hostile_body(kind: str, rng: np.random.Generator, reused: bytes) -> bytes:
    n = 50
    doc: dict = {"batch_id": f"h-{rng.integers(1 << 62)}", "features": rng.normal(size=(n, FEATURES)).tolist(),
                 "proba": rng.dirichlet(np.ones(CLASSES), size=n).tolist()}
    if kind == "overflow":
        doc["features"][int(rng.integers(n))][int(rng.integers(FEATURES))] = 1e308
    elif kind == "overflow-1e155":
        doc["features"][0] = [1e155] * FEATURES
    elif kind == "string-number":
        doc["features"][1][2] = "1.5"
    elif kind == "label-2^63":
        doc["labels"] = [2**63] + [0] * (n - 1)
    elif kind == "nul-batch-id":
        doc["batch_id"] = "bad\u0000id"
    elif kind == "spread-timestamps":
        doc["timestamps"] = [time.time() - 3600 * i for i in range(n)]
    elif kind == "reused-id":
        return reused
    else:
        return b'{"batch_id": "x", "features": [[1, 2'
    return orjson.dumps(doc)


def soak(backend: str, db: str, args: argparse.Namespace) -> None:
    admin, key = setup(db)
    proc, url = start_server(db)
    rng = np.random.default_rng(0)
    auth = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    try:
        register(url, admin, "soak", rng)
        register(url, admin, "neighbour", rng)
        # Bodies are pre-encoded without their batch id, which is spliced in per request (ids never repeat).
        tails = [body[body.index(b",") + 1:] for body in bodies(40, rng)]
        first = b'{"batch_id":"reused-0",' + tails[0]
        assert httpx.post(f"{url}/v1/models/soak/events", content=first, headers=auth).status_code == 201
        reused = b'{"batch_id":"reused-0",' + tails[1]  # same id, other content: 409
        acked = [EVENTS]
        latencies: list[float] = []
        hostile: dict[str, int] = {}
        server_errors: list[str] = []
        lock = threading.Lock()
        stop = time.time() + 60 * args.minutes

        def client(seed: int) -> None:
            local = np.random.default_rng(seed)
            counter = 0
            with httpx.Client(timeout=60, headers=auth) as http:
                while time.time() < stop:
                    counter += 1
                    if local.random() < 0.01:
                        kind = HOSTILE[int(local.integers(len(HOSTILE)))]
                        r = http.post(f"{url}/v1/models/soak/events", content=hostile_body(kind, local, reused))
                        with lock:
                            hostile[f"{kind} {r.status_code}"] = hostile.get(f"{kind} {r.status_code}", 0) + 1
                            if r.status_code >= 500:
                                server_errors.append(f"{kind}: {r.status_code} {r.text[:200]}")
                        continue
                    body = f'{{"batch_id":"c{seed}-{counter}",'.encode() + tails[counter % len(tails)]
                    while time.time() < stop + 30:
                        t0 = time.perf_counter()
                        r = http.post(f"{url}/v1/models/soak/events", content=body)
                        if r.status_code == 429:
                            time.sleep(float(r.headers.get("retry-after", 1)))
                            continue
                        with lock:
                            if r.status_code >= 500:
                                server_errors.append(f"valid: {r.status_code} {r.text[:200]}")
                            elif r.status_code == 201:
                                acked.append(EVENTS)
                                latencies.append(time.perf_counter() - t0)
                        break

        lags: list[float] = []
        backlog: list[int] = []
        healthy = [True]

        def probe() -> None:
            """A small batch to another model every 2 s: how long until the worker has folded it."""
            i = 0
            with httpx.Client(timeout=60, headers=auth) as http:
                while time.time() < stop:
                    i += 1
                    before = http.get(f"{url}/v1/models/neighbour/stats").json()["profiled_events"]
                    body = orjson.dumps({"batch_id": f"probe-{i}", "features": rng.normal(size=(10, FEATURES)),
                                         "proba": rng.dirichlet(np.ones(CLASSES), size=10)},
                                        option=orjson.OPT_SERIALIZE_NUMPY)
                    t0 = time.perf_counter()
                    if http.post(f"{url}/v1/models/neighbour/events", content=body).status_code != 201:
                        continue
                    while http.get(f"{url}/v1/models/neighbour/stats").json()["profiled_events"] < before + 10:
                        time.sleep(0.05)
                    lags.append(time.perf_counter() - t0)
                    health = http.get(f"{url}/healthz").json()
                    backlog.append(health["backlog"])
                    healthy[0] &= health["ok"]
                    time.sleep(max(0.0, 2.0 - (time.perf_counter() - t0)))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=probe))
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        wait_folded(url, key, "soak")
        stats = httpx.get(f"{url}/v1/models/soak/stats", headers=auth).json()
        n = sum(acked)
        p50, p99 = np.percentile(latencies, [50, 99]) * 1000
        lag50, lag99 = np.percentile(lags, [50, 99]) if lags else (float("nan"), float("nan"))
        print(f"{backend:<10} soak {args.minutes:g} min, {args.clients} clients: {(n - EVENTS) / wall:,.0f} events/s "
              f"acknowledged ({n:,} events), latency p50 {p50:.1f} ms, p99 {p99:.1f} ms per {EVENTS}-event batch")
        print(f"{backend:<10} worker lag (probe batch to another model, committed -> folded): median {lag50:.2f} s, "
              f"p99 {lag99:.2f} s, max {max(lags, default=float('nan')):.2f} s over {len(lags)} probes; "
              f"largest backlog seen {max(backlog, default=0):,} events")
        print(f"{backend:<10} hostile batches ({sum(hostile.values())}): "
              + ", ".join(f"{k}: {v}" for k, v in sorted(hostile.items())))
        print(f"{backend:<10} 5xx answers: {len(server_errors)}; /healthz ok throughout: {healthy[0]}; "
              f"stored {stats['events']:,} of {n:,} acknowledged events, {stats['pending_events']} pending")
        for line in server_errors[:5]:
            print("   ", line)
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
    parser.add_argument("--soak", action="store_true", help="soak: ingest with 1 %% hostile batches for --minutes")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    args = parser.parse_args()
    job = soak if args.soak else run
    print(f"start: {load()}")
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                job(backend, f"sqlite:///{Path(tmp) / 'bench.db'}", args)
        elif Path("/usr/lib/postgresql/15/bin/initdb").exists():
            cluster = PostgresCluster()
            try:
                job(backend, cluster.new_database(), args)
            finally:
                cluster.stop()
        else:
            print("postgresql: skipped (no PostgreSQL 15 binaries)")
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
