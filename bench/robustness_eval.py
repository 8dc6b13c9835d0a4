"""evaluate_robustness vs torchattacks' AutoAttack (standard) on the same model, points and eps, from one run.

Prints robust accuracy (target: mathguard ≤ AutoAttack + 0.5 pp, i.e. at least as strong)
and wall time (target: ≤ 50 % of AutoAttack's). Pitfall checks are off for the timing, as
AutoAttack has none; a second mathguard row shows their cost.

    python bench/robustness_eval.py [--n 200] [--eps 0.1]
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Sequence

import torch
from _models import digits_split, train
from _timing import timed

import mathguard as mg


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--eps", type=float, default=0.1)
    args = ap.parse_args(argv)
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
        t_aa, adv = timed(lambda: aa(xs, ys))
        with torch.no_grad():
            acc_aa = float((net(adv).argmax(1) == ys).float().mean())
        t_mg, rep = timed(lambda: mg.evaluate_robustness(clf, xs, ys, eps=[args.eps], checks=False))
        acc_mg = rep.metrics["robust_accuracy"][args.eps]
        t_checks, _ = timed(lambda: mg.evaluate_robustness(clf, xs, ys, eps=[args.eps], checks=True))
        print(f"\n{label}: clean accuracy {rep.metrics['clean_accuracy']:.3f}")
        print(f"  {'method':42s} {'robust acc':>10s} {'time s':>8s}")
        print(f"  {'torchattacks AutoAttack (standard)':42s} {acc_aa:10.3f} {t_aa:8.2f}")
        print(f"  {'mathguard evaluate_robustness':42s} {acc_mg:10.3f} {t_mg:8.2f}")
        print(f"  {'mathguard evaluate_robustness + checks':42s} {'':10s} {t_checks:8.2f}")
        print(f"  robust accuracy difference: {100 * (acc_mg - acc_aa):+.1f} pp (target <= +0.5); "
              f"time: {t_mg / t_aa:.0%} of AutoAttack (target <= 50%)")


if __name__ == "__main__":
    main()
