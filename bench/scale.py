"""1 vs 2 Dask workers for the model-bound tasks and the data audit, and an out-of-memory audit, from one run.

Each contender runs on a ``LocalCluster`` of single-threaded worker processes (so 2 workers
use 2 cores), timed after a warm-up on the same cluster; the answers of the 1- and
2-worker runs are checked to be equal before the ratio is printed (target ≥ 1.7× on 2
workers for evaluate_robustness and smoothing). A machine with 2 cores has nothing left
over for the scheduler, so the ratio is a lower bound of what a real cluster shows.

Then a Parquet dataset larger than the two workers' memory limits together is audited on
that cluster: the peak memory of the worker processes is sampled, and the answer is
checked against the same audit run in this process with Dask's synchronous scheduler.

    python bench/scale.py [--points 64] [--n 20000] [--rows 2000000] [--parquet-rows 7000000] [--worker-memory 1GiB]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402

import mathguard as mg  # noqa: E402
from _timing import timed  # noqa: E402


def digits_mlp() -> tuple[mg.models.Classifier, torch.Tensor, torch.Tensor]:
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    mg.defend.train(net, mg.defend.batches(x[:1200], y[:1200]),
                    lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb), epochs=10, lr=3e-3)
    return mg.wrap(net.eval(), input_shape=(64,), bounds=(0.0, 1.0)), x[1200:], y[1200:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=256, help="points evaluated (in shards of 64, as with a client)")
    ap.add_argument("--n", type=int, default=20_000, help="noise draws per certified point")
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows of the audited Dask array")
    ap.add_argument("--parquet-rows", type=int, default=7_000_000,
                    help="rows of the larger-than-memory Parquet audit (0: skip it)")
    ap.add_argument("--worker-memory", default="1GiB", help="memory limit of each worker in that audit")
    args = ap.parse_args()
    import dask.array as da

    clf, x, y = digits_mlp()
    xs, ys = x[: args.points], y[: args.points]
    data = da.random.RandomState(0).normal(size=(args.rows, 50), chunks=(100_000, 50))
    tasks = {
        "evaluate_robustness": lambda c: mg.evaluate_robustness(clf, xs, ys, eps=[0.05, 0.1], steps=20,
                                                                checks=False, client=c, shard_size=64)
        .metrics["robust_accuracy"],
        "smoothing": lambda c: tuple(mg.certify.smoothing(clf, xs[:64], ys[:64], sigma=0.25, n0=100, n=args.n,
                                                          client=c, shard_size=16).radius),
        "audit_data (Dask array)": lambda c: mg.audit_data(data, figures=False).metrics["condition_number"],
    }
    seconds: dict[str, dict[int, float]] = {name: {} for name in tasks}
    answers: dict[str, dict[int, object]] = {name: {} for name in tasks}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
                Client(lc) as client:
            for name, task in tasks.items():
                task(client)  # warm-up: imports and the model's first trip to the workers
                seconds[name][workers], answers[name][workers] = timed(lambda: task(client))
    print(f"1 vs 2 single-threaded Dask workers ({os.cpu_count()} cores):")
    for name in tasks:
        same = answers[name][1] == answers[name][2]
        one, two = seconds[name][1], seconds[name][2]
        print(f"  {name:26s} 1 worker {one:7.2f} s   2 workers {two:7.2f} s   speed-up {one / two:4.2f}x   "
              f"answers equal: {same}")
    if args.parquet_rows:
        larger_than_memory(args.parquet_rows, args.worker_memory)


def write_parquet(folder: Path, rows: int, cols: int = 50, per_file: int = 50_000) -> int:
    """Normal columns in files of ``per_file`` rows → bytes on disk.

    The last column is x0 + 2·x1 plus 1e-6 noise, so κ > 1e5 and the audit makes its second
    pass (the tall-skinny QR) as well.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    for i, start in enumerate(range(0, rows, per_file)):
        block = rng.normal(size=(min(per_file, rows - start), cols))
        block[:, -1] = block[:, 0] + 2 * block[:, 1] + 1e-6 * block[:, -1]
        pd.DataFrame(block, columns=[f"x{j}" for j in range(cols)]).to_parquet(folder / f"part-{i:04d}.parquet")
    return sum(f.stat().st_size for f in folder.iterdir())


def larger_than_memory(rows: int, worker_memory: str) -> None:
    import dask
    import dask.dataframe as dd
    from dask.utils import format_bytes, parse_bytes
    from distributed.diagnostics import MemorySampler

    with tempfile.TemporaryDirectory(prefix="mg-scale-") as tmp:
        folder = Path(tmp)
        size = write_parquet(folder, rows)
        limit = 2 * parse_bytes(worker_memory)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=worker_memory,
                          dashboard_address=None) as lc, Client(lc) as client:
            sampler, before = MemorySampler(), set(client.scheduler_info()["workers"])
            with sampler.sample("audit", client=client, interval=0.25):
                seconds, report = timed(lambda: mg.audit_data(dd.read_parquet(folder), figures=False))
            peak = float(sampler.to_pandas()["audit"].max())
            restarted = set(client.scheduler_info()["workers"]) != before  # a worker over its limit is replaced
        with dask.config.set(scheduler="synchronous"):
            local = mg.audit_data(dd.read_parquet(folder), figures=False)
    keys = ("rank", "condition_number", "condition_number_standardized", "confirmed_by_qr")
    same = all(abs(report.metrics[k] - local.metrics[k]) <= 1e-10 * abs(local.metrics[k]) for k in keys)
    print(f"Parquet audit larger than the cluster's memory ({rows:,} rows × 50 columns, {format_bytes(size)} "
          f"on disk, {format_bytes(rows * 50 * 8)} as float64; 2 workers × {worker_memory} = {format_bytes(limit)}):")
    print(f"  {seconds:7.2f} s ({rows / seconds:,.0f} rows/s)   peak worker memory {format_bytes(peak)} "
          f"({peak / limit:.0%} of the limit)   workers restarted: {restarted}   "
          f"answers equal the in-process audit (1e-10): {same}")


if __name__ == "__main__":
    main()
