"""Overhead of the training Monitor on one training step of the small digits CNN, from one run.

Four loops train the same CNN (batch 64, Adam): bare; with ``mg.training.Monitor`` at its
default sampling (norms every step, activation hooks every 10th); the same Monitor
streaming every step to a real monitoring service (``mathguard serve`` on SQLite, on
loopback, in a subprocess) with ``client=`` and ``run=``; and, when it is installed, with
Cockpit tracking the comparable quantities every step (per-parameter gradient norms, update
size, loss). The loops alternate in blocks of steps so machine noise hits all of them alike;
the median block time per step is reported. Targets: the Monitor within 10 % of a bare step,
streaming within 5 % more.

    python bench/training_monitor.py [--blocks 15] [--steps 40] [--no-stream]
    # Cockpit (optional; declares torchvision, so install without dependencies):
    pip install --no-deps cockpit-for-pytorch backpack-for-pytorch json-tricks einops unfoldNd seaborn "setuptools<81"
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import tempfile
import warnings
from typing import Any, Callable

import numpy as np
import torch
from _timing import rounds
from sklearn.datasets import load_digits
from torch import nn

import mathguard as mg
from mathguard.demo.context import digits_cnn

Step = Callable[[torch.Tensor, torch.Tensor], None]


def bare_loop(net: nn.Module, opt: torch.optim.Optimizer) -> Step:
    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        loss = nn.functional.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def monitored_loop(net: nn.Module, opt: torch.optim.Optimizer, **monitor: Any) -> Step:
    """The bare loop with ``Monitor(net, opt, **monitor).step`` between backward and the optimizer step."""
    mon = mg.training.Monitor(net, opt, **monitor)

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        loss = nn.functional.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        mon.step(loss)
        opt.step()
    step.monitor = mon  # type: ignore[attr-defined]
    return step


def streaming_loop(client: mg.monitor.Client) -> Callable[[nn.Module, torch.optim.Optimizer], Step]:
    return lambda net, opt: monitored_loop(net, opt, client=client, run="bench")


def service(folder: str) -> tuple[subprocess.Popen[bytes], mg.monitor.Client]:
    """A real server on a fresh SQLite file, a registered model, and an ingest client for it."""
    from monitor import register, setup, start_server

    db = f"sqlite:///{folder}/runs.db"
    admin, key = setup(db)
    proc, url = start_server(db)
    register(url, admin, "cnn", np.random.default_rng(0))
    return proc, mg.monitor.Client(url, key, "cnn", spool_dir=folder)


def cockpit_loop(net: nn.Module, opt: torch.optim.Optimizer) -> Step | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from backpack import extend
            from cockpit import Cockpit, quantities
            from cockpit.utils import schedules
    except ImportError:
        return None
    net = extend(net)
    loss_fn = extend(nn.CrossEntropyLoss())
    every = schedules.linear(1)
    cockpit = Cockpit(net.parameters(), quantities=[quantities.GradNorm(every), quantities.UpdateSize(every),
                                                    quantities.Loss(every)])
    counter = [0]

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        out = net(xb)
        loss = loss_fn(out, yb)
        losses = nn.functional.cross_entropy(out, yb, reduction="none")
        opt.zero_grad()
        info = {"batch_size": len(xb), "individual_losses": losses, "loss": loss, "optimizer": opt}
        with cockpit(counter[0], info=info):
            loss.backward(create_graph=cockpit.create_graph(counter[0]))
        opt.step()
        counter[0] += 1
    return step


def block(loop: Step, x: torch.Tensor, y: torch.Tensor, steps: int) -> Callable[[], None]:
    """One call runs the loop's next ``steps`` batches of 64; every loop walks the same batches in the same order."""
    starts = itertools.count(0, 64)

    def run() -> None:
        for _ in range(steps):
            start = next(starts)
            idx = torch.arange(start, start + 64) % len(x)
            loop(x[idx], y[idx])

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=15)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--no-stream", action="store_true", help="Skip the streaming loop (no server started).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        proc, client = (None, None) if args.no_stream else service(folder)
        try:
            run(args, client)
        finally:
            if proc is not None:
                client.close()
                proc.terminate()
                proc.wait()


def run(args: argparse.Namespace, client: mg.monitor.Client | None) -> None:
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
    y = torch.tensor(d.target)
    loops: dict[str, Step] = {}
    makers = [("bare", bare_loop), ("mathguard Monitor", monitored_loop)]
    if client is not None:
        makers.append(("Monitor + streaming", streaming_loop(client)))
    for name, make in (*makers, ("Cockpit", cockpit_loop)):
        torch.manual_seed(0)
        net = digits_cnn()
        loop = make(net, torch.optim.Adam(net.parameters(), lr=1e-3))
        if loop is not None:
            loops[name] = loop
    blocks = rounds({name: block(loop, x, y, args.steps) for name, loop in loops.items()}, args.blocks, warmup=1)
    times = {name: [t / args.steps for t in ts] for name, ts in blocks.items()}
    base = np.median(times["bare"])
    print(f"small digits CNN, batch 64, Adam; {args.blocks} alternating blocks of {args.steps} steps, "
          f"torch threads={torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    for name, ts in times.items():
        med = np.median(ts)
        print(f"  {name:20s} {1000 * med:7.3f} ms/step   overhead {100 * (med / base - 1):+6.1f} %")
    monitor = np.median(times["mathguard Monitor"]) / base - 1
    print(f"Monitor overhead {100 * monitor:.1f} % (target <= 10 %)")
    if "Monitor + streaming" in times:
        streaming = np.median(times["Monitor + streaming"]) / np.median(times["mathguard Monitor"]) - 1
        mon = loops["Monitor + streaming"].monitor  # type: ignore[attr-defined]
        mon.close()
        print(f"streaming to the service adds {100 * streaming:+.1f} % to a monitored step (target <= 5 %); "
              f"{mon.stream.sent} steps stored, stream error: {mon.stream.error}")
    if "Cockpit" in times:
        cockpit = np.median(times["Cockpit"]) / base - 1
        print(f"Cockpit overhead {100 * cockpit:.1f} % for gradient norms + update size + loss; "
              f"Monitor/Cockpit overhead ratio {monitor / cockpit:.2f}")
    else:
        print("Cockpit not installed: comparison skipped (see the install line in this file's docstring)")


if __name__ == "__main__":
    main()
