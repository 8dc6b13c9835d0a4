"""evaluate_robustness vs torchattacks' AutoAttack (standard) on the same model, points and eps, from one run.

Prints robust accuracy (target: mathguard ≤ AutoAttack + 0.5 pp, i.e. at least as strong)
and wall time (target: ≤ 50 % of AutoAttack's). Pitfall checks are off for the timing, as
AutoAttack has none; a second mathguard row shows their cost.

    python bench/robustness_eval.py [--n 200] [--eps 0.1]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import runpy
import torch

import mathguard as mg

_attacks_bench = runpy.run_path(str(Path(__file__).with_name("attacks.py")), run_name="bench_attacks")
train, digits_split = _attacks_bench["train"], _attacks_bench["digits_split"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--eps", type=float, default=0.1)
    args = ap.parse_args()
    if importlib.util.find_spec("torchattacks") is None:
        print("torchattacks not installed: pip install --no-deps torchattacks")
        return
    import torchattacks

    x_tr, y_tr, xs, ys = digits_split(args.n)
    print(f"evaluate_robustness vs AutoAttack (standard), Linf eps={args.eps}, {len(xs)} points; "
          f"torch threads={torch.get_num_threads()}")
    for label, adv_eps in (("standard CNN", 0.0), ("FGSM-trained CNN", 0.1)):
        net = train(x_tr, y_tr, adv_eps)
        clf = mg.wrap(net, input_shape=(1, 8, 8), bounds=(0.0, 1.0))
        aa = torchattacks.AutoAttack(net, norm="Linf", eps=args.eps, version="standard", n_classes=10, seed=0)
        t0 = time.perf_counter()
        adv = aa(xs, ys)
        t_aa = time.perf_counter() - t0
        with torch.no_grad():
            acc_aa = float((net(adv).argmax(1) == ys).float().mean())
        t0 = time.perf_counter()
        rep = mg.evaluate_robustness(clf, xs, ys, eps=[args.eps], checks=False)
        t_mg = time.perf_counter() - t0
        acc_mg = rep.metrics["robust_accuracy"][args.eps]
        t0 = time.perf_counter()
        mg.evaluate_robustness(clf, xs, ys, eps=[args.eps], checks=True)
        t_checks = time.perf_counter() - t0
        print(f"\n{label}: clean accuracy {rep.metrics['clean_accuracy']:.3f}")
        print(f"  {'method':42s} {'robust acc':>10s} {'time s':>8s}")
        print(f"  {'torchattacks AutoAttack (standard)':42s} {acc_aa:10.3f} {t_aa:8.2f}")
        print(f"  {'mathguard evaluate_robustness':42s} {acc_mg:10.3f} {t_mg:8.2f}")
        print(f"  {'mathguard evaluate_robustness + checks':42s} {'':10s} {t_checks:8.2f}")
        print(f"  robust accuracy difference: {100 * (acc_mg - acc_aa):+.1f} pp (target <= +0.5); "
              f"time: {t_mg / t_aa:.0%} of AutoAttack (target <= 50%)")


if __name__ == "__main__":
    main()
