"""Randomized-smoothing certification throughput against the bare forward pass and ART, from one run.

A small CNN on 8x8 digits scaled to [0, 1] (trained briefly with Gaussian augmentation at σ).
Every contender does the same work: for each of M test points, n0 selection draws plus n
estimation draws of Gaussian noise, each pushed through the network in batches of B.

* bare: the network's forward pass on a ready-made batch of B noisy inputs, M·(n0+n) rows in all
  (no noise drawn, no counting: the floor any certifier pays);
* mathguard: ``mg.certify.smoothing`` (noise, forward, bincount, Clopper–Pearson);
* ART: ``PyTorchRandomizedSmoothing.certify`` with the same σ, α, n0 (its sample_size), n and B.

Throughput is noisy draws per second (best of --repeat interleaved rounds); ratios are against
the bare pass and ART.

    python bench/certify.py [--points 10] [--n 10000] [--batch 1000] [--sigma 0.25] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Callable

import torch
from _timing import best_of
from sklearn.datasets import load_digits
from torch import nn

import mathguard as mg


def trained_cnn(x: torch.Tensor, y: torch.Tensor, sigma: float) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(16 * 16, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(10):
        for i in range(0, len(x), 128):
            xb, yb = x[i:i + 128], y[i:i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(net(xb + sigma * torch.randn_like(xb)), yb).backward()
            opt.step()
    return net.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--n0", type=int, default=100)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--sigma", type=float, default=0.25)
    ap.add_argument("--alpha", type=float, default=0.001)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_grad_enabled(False)

    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(d.target)
    with torch.enable_grad():
        net = trained_cnn(x[:1400], y[:1400], args.sigma)
    xs, ys = x[1400:1400 + args.points], y[1400:1400 + args.points]
    clf = mg.wrap(net, input_shape=(1, 8, 8), n_classes=10, bounds=(0.0, 1.0))
    draws = args.points * (args.n0 + args.n)

    # the same kind of rows the certifiers push through (noisy copies of a test point), drawn once, untimed
    batch = xs[:1] + args.sigma * torch.randn(args.batch, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    full, rest = divmod(draws, args.batch)

    def bare() -> None:
        for _ in range(full):
            net(batch)
        if rest:
            net(batch[:rest])

    def ours() -> None:
        mg.certify.smoothing(clf, xs.numpy(), ys.numpy(), sigma=args.sigma, n0=args.n0, n=args.n,
                             alpha=args.alpha, batch_size=args.batch)

    fns: dict[str, Callable[[], object]] = {"bare forward pass": bare, "mathguard smoothing": ours}
    if importlib.util.find_spec("art") is not None:
        from art.estimators.certification.randomized_smoothing import PyTorchRandomizedSmoothing

        art = PyTorchRandomizedSmoothing(model=net, loss=nn.CrossEntropyLoss(), input_shape=(1, 8, 8),
                                         nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu",
                                         sample_size=args.n0, scale=args.sigma, alpha=args.alpha)
        fns["ART randomized smoothing"] = lambda: art.certify(xs.numpy(), n=args.n, batch_size=args.batch)
    else:
        print("ART not installed: skipping its row")

    cert = mg.certify.smoothing(clf, xs.numpy(), ys.numpy(), sigma=args.sigma, n0=args.n0, n=args.n,
                                alpha=args.alpha, batch_size=args.batch)
    print(f"{args.points} points, n0={args.n0}, n={args.n}, batch={args.batch}, σ={args.sigma}, "
          f"{draws} noisy forward rows; best of {args.repeat}; torch threads={torch.get_num_threads()}")
    print(f"mathguard: certified accuracy at r=0 / 0.25: {cert.certified_accuracy([0.0, 0.25])}, "
          f"ceiling radius {cert.max_radius:.3f}")
    rows = list(best_of(fns, args.repeat).items())
    base = {name: draws / sec for name, sec in rows}
    print(f"{'contender':28s}{'seconds':>10s}{'draws/s':>14s}{'vs bare':>10s}")
    for name, sec in rows:
        print(f"{name:28s}{sec:10.2f}{draws / sec:14.0f}{base[name] / base['bare forward pass']:10.2f}")
    print(f"mathguard / bare forward pass throughput: {base['mathguard smoothing'] / base['bare forward pass']:.2f}x "
          "(target >= 0.9; mathguard also draws the noise and counts)")
    if "ART randomized smoothing" in base:
        print(f"mathguard / ART throughput: {base['mathguard smoothing'] / base['ART randomized smoothing']:.2f}x")


if __name__ == "__main__":
    main()
