"""Detector scoring against straightforward torch implementations, the shared forward pass, streaming memory.

From one run:

* throughput of mathguard's Energy, Mahalanobis and KNN scores against a straightforward torch
  implementation of the same detector (forward, then the formula: a per-class loop of
  (f − μ_c) Σ⁻¹ (f − μ_c)ᵀ for Mahalanobis, a full distance matrix for KNN), on a CNN for
  1×28×28 inputs; pytorch-ood is not timed (it needs torchvision, whose registry wheel does
  not load beside the CPU torch used here);
* five detectors (max-softmax, entropy, energy, Mahalanobis, KNN) scored together through
  ``mg.detect.score_many`` (one forward pass) against the same five scored one by one;
* peak resident memory of a streaming Mahalanobis fit on 1,000,000 × 512 features fed in chunks,
  measured in a fresh interpreter (target ≤ 1 GiB).

    python bench/detect.py [--n 8192] [--repeat 3] [--rows 1000000] [--dim 512]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap

import torch
from _models import mnist_cnn
from _timing import best_of
from torch import nn

import mathguard as mg


def plain_features(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features and logits the way a hand-written detector gets them."""
    feats = net[:-1](x)
    return feats, net[-1](feats)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    net = mnist_cnn()
    clf = mg.wrap(net, input_shape=(1, 28, 28), bounds=(0.0, 1.0))
    gen = torch.Generator().manual_seed(0)
    x_train = torch.rand(4096, 1, 28, 28, generator=gen)
    y_train = clf.predict(x_train)
    x = torch.rand(args.n, 1, 28, 28, generator=gen)
    D = mg.detect
    energy, msp, ent = D.Energy(clf), D.MaxSoftmax(clf), D.Entropy(clf)
    maha = D.Mahalanobis(clf, shrinkage=0.01).fit(x_train, y_train)
    knn = D.KNN(clf, k=10).fit(x_train)
    mu = maha._centers.float()
    prec = torch.linalg.inv(torch.from_numpy(maha.covariance_)).float()
    bank = knn.bank_

    def plain_energy() -> None:
        for i in range(0, args.n, 512):
            -torch.logsumexp(net(x[i:i + 512]), dim=1)

    def plain_mahalanobis() -> None:
        for i in range(0, args.n, 512):
            f, _ = plain_features(net, x[i:i + 512])
            torch.stack([((f - m) @ prec * (f - m)).sum(1) for m in mu], 1).amin(1)

    def plain_knn() -> None:
        for i in range(0, args.n, 512):
            f, _ = plain_features(net, x[i:i + 512])
            f = f / f.norm(dim=1, keepdim=True)
            torch.cdist(f, bank).sort(dim=1).values[:, 9]

    five = [msp, ent, energy, maha, knn]
    t = best_of({
        "energy: mathguard": lambda: energy.score(x), "energy: plain torch": plain_energy,
        "mahalanobis: mathguard": lambda: maha.score(x), "mahalanobis: plain torch": plain_mahalanobis,
        "knn: mathguard": lambda: knn.score(x), "knn: plain torch": plain_knn,
        "five detectors, one shared pass": lambda: D.score_many(five, x),
        "five detectors, one pass each": lambda: [d.score(x) for d in five],
    }, args.repeat)
    print(f"scoring {args.n} inputs of 1x28x28 (CNN, best of {args.repeat}):")
    for name, sec in t.items():
        print(f"  {name:34s} {sec * 1e3:8.1f} ms   {args.n / sec:10.0f} inputs/s")
    for det in ("energy", "mahalanobis", "knn"):
        print(f"  {det}: mathguard throughput = {t[det + ': plain torch'] / t[det + ': mathguard']:.2f}x plain torch")
    print(f"  shared pass: {t['five detectors, one pass each'] / t['five detectors, one shared pass']:.2f}x faster "
          "than five separate passes")
    print(f"streaming Mahalanobis fit, {args.rows:,} x {args.dim} (fresh interpreter):")
    print(textwrap.indent(memory_probe(args.rows, args.dim), "  "))


def memory_probe(rows: int, dim: int) -> str:
    code = f"""
import re, time, numpy as np, torch
from torch import nn
import mathguard as mg
torch.manual_seed(0)
clf = mg.wrap(nn.Linear({dim}, 10), input_shape=({dim},))
det = mg.detect.Mahalanobis(clf, layer="input")
def high_water():  # VmHWM restarts at exec, unlike ru_maxrss, which a child inherits from its parent
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1))
before = high_water()
rng = np.random.default_rng(0)
t0 = time.perf_counter()
for start in range(0, {rows}, 50_000):
    chunk = rng.standard_normal((min(50_000, {rows} - start), {dim}), dtype=np.float32)
    det.partial_fit(chunk, rng.integers(0, 10, len(chunk)))
det.score(chunk[:10])
peak = high_water()
print(f"{{time.perf_counter() - t0:.1f}} s; peak RSS {{peak / 1024:.0f}} MiB "
      f"({{(peak - before) / 1024:.0f}} MiB above the interpreter with torch loaded; target <= 1024 MiB); "
      f"the data itself would be {{ {rows} * {dim} * 4 / 2**20:.0f}} MiB in float32")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


if __name__ == "__main__":
    main()
