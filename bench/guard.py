"""The guard's latency against the bare model, batch 1 and batch 256, from one run.

A CNN on 1×28×28 inputs (as in bench/detect.py); the guard validates every row against a
training profile (784 per-pixel ranges) and scores two feature-based detectors,
Mahalanobis and KNN, in the prediction's own forward pass. "bare" is the network's
forward pass and a softmax under ``torch.no_grad``. Target: ≤ 1.3× at batch 256.

Then the same guard logging to a monitor that hangs (each ``log`` sleeps ``--stall``
seconds, like a client retrying a dead server) against the guard with no monitor, batch
10: logging goes through the guard's queue and thread, so the ratio should stay near 1
(before #23, each call waited for the monitor). The second table is skipped with
``--stall 0``.

    python bench/guard.py [--repeat 200] [--stall 0.5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _models import mnist_cnn
from _timing import rounds

import mathguard as mg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--stall", type=float, default=0.5, help="seconds each log() of the hung monitor takes")
    args = ap.parse_args()
    torch.set_num_threads(1)  # latency of one request, not the whole machine
    net = mnist_cnn()
    clf = mg.wrap(net, input_shape=(1, 28, 28), bounds=(0.0, 1.0))
    gen = torch.Generator().manual_seed(0)
    x_train = torch.rand(4096, 1, 28, 28, generator=gen)
    x_val = torch.rand(1000, 1, 28, 28, generator=gen)
    dets = [mg.detect.Mahalanobis(clf, shrinkage=0.01).fit(x_train).calibrate(x_val, fpr=0.01),
            mg.detect.KNN(clf).fit(x_train).calibrate(x_val, fpr=0.01)]
    guard = mg.Guard(clf, profile=mg.drift.profile(x_train.reshape(len(x_train), -1).numpy()), detectors=dets)
    print("guard (profile validation + Mahalanobis + KNN) vs bare forward+softmax, median per call, 1 thread:")
    for batch in (1, 256):
        xb = torch.rand(batch, 1, 28, 28, generator=gen)
        xn = xb.numpy()

        def bare() -> None:
            with torch.no_grad():
                torch.softmax(net(xb), dim=1).numpy()

        t = rounds({"bare": bare, "guard": lambda: guard.predict(xn)}, args.repeat, warmup=1)
        t_bare, t_guard = float(np.median(t["bare"])), float(np.median(t["guard"]))
        print(f"  batch {batch:3d}: bare {t_bare * 1e3:7.2f} ms   guard {t_guard * 1e3:7.2f} ms   "
              f"ratio {t_guard / t_bare:5.2f}x")
    if args.stall > 0:
        hung = HungMonitor(args.stall)
        logged = mg.Guard(clf, profile=guard.validator.profile, detectors=dets, monitor=hung,
                          max_queued_rows=10 * args.repeat)
        xb = torch.rand(10, 1, 28, 28, generator=gen).numpy()
        t = rounds({"plain": lambda: guard.predict(xb), "logged": lambda: logged.predict(xb)}, args.repeat, warmup=1)
        t_plain, t_logged = float(np.median(t["plain"])), float(np.median(t["logged"]))
        counts = logged.close(timeout=0)
        print(f"guard logging to a monitor whose log() takes {args.stall:g} s vs no monitor, batch 10, median:")
        print(f"  no monitor {t_plain * 1e3:7.2f} ms   hung monitor {t_logged * 1e3:7.2f} ms   "
              f"ratio {t_logged / t_plain:5.2f}x   (rows logged {counts.logged_rows}, "
              f"left queued when closed {counts.dropped_rows})")


class HungMonitor:
    """A monitor whose every log() takes ``stall`` seconds."""

    def __init__(self, stall: float) -> None:
        self.stall = stall

    def log(self, *args: object, **kwargs: object) -> None:
        time.sleep(self.stall)


if __name__ == "__main__":
    main()
