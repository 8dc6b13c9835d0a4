"""1 vs 2 Dask workers for the model-bound tasks and the data audit, from one run.

Each contender runs on a ``LocalCluster`` of single-threaded worker processes (so 2 workers
use 2 cores), timed after a warm-up on the same cluster; the answers of the 1- and
2-worker runs are checked to be equal before the ratio is printed (target ≥ 1.7× on 2
workers for evaluate_robustness and smoothing). A machine with 2 cores has nothing left
over for the scheduler, so the ratio is a lower bound of what a real cluster shows.

    python bench/scale.py [--points 64] [--n 20000] [--rows 2000000]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402

import mathguard as mg  # noqa: E402


def digits_mlp() -> tuple[mg.models.Classifier, torch.Tensor, torch.Tensor]:
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    mg.defend.train(net, mg.defend.batches(x[:1200], y[:1200]),
                    lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb), epochs=10, lr=3e-3)
    return mg.wrap(net.eval(), input_shape=(64,), bounds=(0.0, 1.0)), x[1200:], y[1200:]


def timed(fn):  # noqa: ANN001, ANN201
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=64)
    ap.add_argument("--n", type=int, default=20_000, help="noise draws per certified point")
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows of the audited Dask array")
    args = ap.parse_args()
    import dask.array as da

    clf, x, y = digits_mlp()
    xs, ys = x[: args.points], y[: args.points]
    data = da.random.RandomState(0).normal(size=(args.rows, 50), chunks=(100_000, 50))
    tasks = {
        "evaluate_robustness": lambda c: mg.evaluate_robustness(clf, xs, ys, eps=[0.05, 0.1], steps=20,
                                                                checks=False, client=c, shard_size=16)
        .metrics["robust_accuracy"],
        "smoothing": lambda c: tuple(mg.certify.smoothing(clf, xs, ys, sigma=0.25, n0=100, n=args.n,
                                                          client=c, shard_size=8).radius),
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


if __name__ == "__main__":
    main()
