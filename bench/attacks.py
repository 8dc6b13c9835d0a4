"""PGD's cost against the bare gradient loop, torchattacks and ART, from one run on digits.

Two CNNs on 8x8 digits scaled to [0, 1]: one trained normally, one adversarially
(FGSM training) so that fewer points fall early. For each: Linf PGD, eps=0.1, 40 steps,
no random start, on the same 512 test points:

* bare: the same number of forward+backward passes with sign step, projection and clip
  written inline (the floor any PGD implementation pays);
* mathguard PGD with early_stop=False (same work as the others) and with early stopping;
* torchattacks.PGD and ART's ProjectedGradientDescent (PyTorch estimator), same settings.

Then HopSkipJump against ART's on a labels-only linear model (median L2 and time at ART's
per-point query count) and the EOT patch's time per step against the bare forward+backward.

    python bench/attacks.py [--n 512] [--steps 40] [--repeat 3] [--pgd-only]
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any, Callable

import numpy as np
import robustness_eval
import torch
from _models import digits_split, train
from _timing import best_of, timed
from torch import nn

import mathguard as mg


def bare(net: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int) -> torch.Tensor:
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = nn.functional.cross_entropy(net(adv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, adv)
        adv = (x + (adv.detach() + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return adv


def pgd_contenders(net: nn.Module, clf: Any, xs: torch.Tensor, ys: torch.Tensor, eps: float, alpha: float,
                   steps: int) -> dict[str, Callable[[], torch.Tensor]]:
    """Each PGD contender as a call that returns its adversarial batch (a tensor)."""
    out: dict[str, Callable[[], torch.Tensor]] = {"bare fwd+bwd loop": lambda: bare(net, xs, ys, eps, alpha, steps)}
    for name, early in (("mathguard PGD", False), ("mathguard PGD early-stop", True)):
        atk = mg.attacks.PGD(steps=steps, step_size=alpha, random_start=False, early_stop=early)
        out[name] = lambda atk=atk: atk(clf, xs, ys, eps=eps).adversarial[0]
    if importlib.util.find_spec("torchattacks"):
        import torchattacks
        ta = torchattacks.PGD(net, eps=eps, alpha=alpha, steps=steps, random_start=False)
        out["torchattacks PGD"] = lambda: ta(xs, ys)
    if importlib.util.find_spec("art"):
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import PyTorchClassifier
        est = PyTorchClassifier(net, loss=nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10,
                                clip_values=(0.0, 1.0))
        art_pgd = ProjectedGradientDescent(est, norm=np.inf, eps=eps, eps_step=alpha, max_iter=steps,
                                           num_random_init=0, batch_size=len(xs), verbose=False)
        out["ART ProjectedGradientDescent"] = lambda: torch.tensor(art_pgd.generate(xs.numpy()))
    return out


def pgd_rounds(contenders: dict[str, Callable[[], torch.Tensor]], repeat: int
               ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Best time of each contender over interleaved rounds (load hits all alike) and its last adversarial batch."""
    last: dict[str, torch.Tensor] = {}

    def keeping(name: str, fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        return lambda: last.__setitem__(name, fn())

    times = best_of({name: keeping(name, fn) for name, fn in contenders.items()}, repeat)
    return times, last


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pgd-only", action="store_true", help="stop after the PGD tables (minutes, not a quarter hour)")
    args = ap.parse_args()
    x_tr, y_tr, xs, ys = digits_split(args.n)
    eps, alpha, steps = 0.1, 0.01, args.steps
    print(f"PGD Linf eps={eps} step={alpha} steps={steps}, {len(xs)} points, best of {args.repeat}; "
          f"torch threads={torch.get_num_threads()} (shared machine: absolute times are noisy)")
    for label, adv_eps in (("standard CNN", 0.0), ("FGSM-trained CNN", 0.1)):
        net = train(x_tr, y_tr, adv_eps)
        clf = mg.wrap(net, input_shape=(1, 8, 8), bounds=(0.0, 1.0))
        acc = float((clf.predict(xs) == ys).float().mean())
        times, adversarial = pgd_rounds(pgd_contenders(net, clf, xs, ys, eps, alpha, steps), args.repeat)
        with torch.no_grad():
            rows = [(name, times[name], float((net(adv).argmax(1) != ys).float().mean()))
                    for name, adv in adversarial.items()]
        ref, t_bare = times["mathguard PGD"], times["bare fwd+bwd loop"]
        print(f"\n{label}: clean accuracy {acc:.3f}")
        print(f"  {'method':30s} {'time s':>8s} {'success':>8s} {'time / mathguard PGD':>22s}")
        for name, t, s in rows:
            print(f"  {name:30s} {t:8.3f} {s:8.3f} {t / ref:22.2f}")
        print(f"  mathguard PGD / bare loop: {ref / t_bare:.3f}x (target <= 1.05)")
        peer = times.get("torchattacks PGD")
        if peer is not None:
            print(f"  mathguard PGD / torchattacks PGD: {ref / peer:.3f}x (target <= 1.0; mathguard's time includes "
                  "the success check, one forward pass that torchattacks leaves to its caller)")

    if args.pgd_only:
        return
    hopskipjump_vs_art(x_tr, y_tr, xs[:16], ys[:16])
    patch_step_cost(x_tr, y_tr, args.repeat)

    print("\n--- robustness_eval.py ---")
    robustness_eval.main([])  # its own defaults, not this script's options


def hopskipjump_vs_art(x_tr: torch.Tensor, y_tr: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> None:
    """Label-only L2 on a linear model in [0, 1]: median L2 and time at ART's per-point query count."""
    from art.attacks.evasion import HopSkipJump as ArtHopSkipJump
    from art.estimators.classification import BlackBoxClassifier

    torch.manual_seed(0)
    net = nn.Linear(64, 10)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x_tr.flatten(1)), y_tr).backward()
        opt.step()
    net.eval()
    clf = mg.wrap(net, input_shape=(64,), bounds=(0.0, 1.0))
    x = xs.flatten(1)
    keep = clf.predict(x) == ys
    x, y = x[keep], ys[keep]
    count = [0]

    def labels(a: np.ndarray) -> np.ndarray:
        count[0] += len(a)
        with torch.no_grad():
            return np.eye(10)[net(torch.as_tensor(a, dtype=torch.float32)).argmax(1).numpy()]

    def art_one_by_one(art: ArtHopSkipJump) -> tuple[list[float], list[int]]:
        """L2 norm and query count per point, ART attacking one point at a time."""
        norms, queries = [], []
        for row in x.numpy():
            count[0] = 0
            norms.append(float(np.linalg.norm(art.generate(row[None])[0] - row)))
            queries.append(count[0])
        return norms, queries

    est = BlackBoxClassifier(labels, input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0))
    print(f"\nHopSkipJump L2, linear model, {len(x)} points, labels only (ART one point at a time)")
    print(f"  {'ART max_iter':>12s} {'queries/pt':>10s} {'ART median':>10s} {'ART s':>7s} "
          f"{'mg median':>9s} {'mg s':>7s}")
    for iters in (5, 17, 35):
        np.random.seed(0)
        art = ArtHopSkipJump(est, norm=2, max_iter=iters, max_eval=10_000, init_eval=100, verbose=False)
        t_art, (norms, queries) = timed(lambda: art_one_by_one(art))
        q = int(np.mean(queries))
        t_mg, res = timed(lambda: mg.attacks.HopSkipJump(queries=q)(clf, x, y))
        print(f"  {iters:12d} {q:10d} {np.median(norms):10.4f} {t_art:7.2f} {float(res.norms[0].median()):9.4f} "
              f"{t_mg:7.2f}")


def patch_step_cost(x_tr: torch.Tensor, y_tr: torch.Tensor, repeat: int) -> None:
    """Time per optimisation step of an EOT patch against the bare forward+backward on the same batch."""
    net = train(x_tr, y_tr, epochs=2)
    clf = mg.wrap(net, input_shape=(1, 8, 8), bounds=(0.0, 1.0))
    xb, yb, steps = x_tr[:128], y_tr[:128], 50

    def bare() -> None:
        for _ in range(steps):
            xg = xb.clone().requires_grad_(True)
            nn.functional.cross_entropy(net(xg), yb).backward()

    def patch() -> None:
        mg.attacks.Patch(size=0.25, steps=steps, batch_size=128)(clf, xb, yb)

    t = best_of({"bare": bare, "patch": patch}, repeat)
    print(f"\nPatch (EOT, 4x4, batch 128): {t['patch'] / steps * 1e3:.2f} ms/step, bare forward+backward "
          f"{t['bare'] / steps * 1e3:.2f} ms/step, ratio {t['patch'] / t['bare']:.2f}x "
          "(includes the final fresh-placement check)")


if __name__ == "__main__":
    main()
