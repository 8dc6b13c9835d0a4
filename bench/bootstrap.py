"""Paired bootstrap of an accuracy difference: 10,000 resamples on 1,000,000 predictions.

mathguard draws each resample's (A right, B right) cell counts from the multinomial — exactly
the law of resampling the examples — so its cost does not grow with n. It is compared in one
run with: its own generic per-example path (index resampling in chunks, as used for log loss
and AUC), a naive Python loop, scipy.stats.bootstrap (paired, vectorised) and mlxtend's
bootstrap. Slow contenders run fewer resamples and are extrapolated linearly; the output says so.

    python bench/bootstrap.py [--n 1000000] [--resamples 10000]
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import timed

from mathguard.evaluation import paired_bootstrap
from mathguard.evaluation.bootstrap import replicates
from mathguard.evaluation.metrics import Accuracy, Atoms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--resamples", type=int, default=10_000)
    args = ap.parse_args()
    n, B = args.n, args.resamples
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    a = np.where(rng.random(n) < 0.90, y, (y + 1) % 10)
    b = np.where(rng.random(n) < 0.902, y, (y + 2) % 10)
    d = (b == y).astype(np.float64) - (a == y)
    rows = []  # (name, resamples run, seconds, CI or None)

    t, res = timed(lambda: paired_bootstrap(y, a, b, "accuracy", n_resamples=B, method="percentile", seed=1),
                   repeat=3)
    rows.append(("mathguard percentile (multinomial cells)", B, t, res.ci))
    t, res_bca = timed(lambda: paired_bootstrap(y, a, b, "accuracy", n_resamples=B, method="bca", seed=1), repeat=3)
    rows.append(("mathguard BCa (multinomial cells)", B, t, res_bca.ci))

    per_example = Atoms(np.ones(n), {"correct": np.column_stack([a == y, b == y]).astype(np.float64)})
    k = min(B, 500)
    t, reps = timed(lambda: replicates(Accuracy(), per_example, k, np.random.default_rng(2)))
    rows.append(("mathguard generic per-example path (chunked)", k, t, tuple(np.quantile(reps, [0.025, 0.975]))))

    def naive(k: int) -> np.ndarray:
        r = np.random.default_rng(3)
        out = []
        for _ in range(k):
            idx = r.integers(0, n, n)
            out.append(np.mean(b[idx] == y[idx]) - np.mean(a[idx] == y[idx]))
        return np.array(out)

    k = min(B, 30)
    t, _ = timed(lambda: naive(k))
    rows.append(("naive loop (numpy per resample)", k, t, None))

    from scipy.stats import bootstrap

    k = min(B, 300)
    t, ci = timed(lambda: bootstrap((d,), lambda x, axis: x.mean(axis), n_resamples=k, method="percentile",
                                    vectorized=True, batch=20, random_state=4).confidence_interval)
    rows.append(("scipy.stats.bootstrap (vectorised, percentile)", k, t, (ci.low, ci.high)))
    t, ci = timed(lambda: bootstrap((a == y, b == y), lambda u, v, axis: v.mean(axis) - u.mean(axis),
                                    paired=True, n_resamples=k, method="percentile", vectorized=True, batch=20,
                                    random_state=4).confidence_interval)
    rows.append(("scipy.stats.bootstrap (paired=True, percentile)", k, t, (ci.low, ci.high)))

    try:
        from mlxtend.evaluate import bootstrap as mlx_bootstrap

        k = min(B, 30)
        t, _ = timed(lambda: mlx_bootstrap(d, num_rounds=k, func=np.mean, ci=0.95, seed=5))
        rows.append(("mlxtend.evaluate.bootstrap (loop over d)", k, t, None))
    except ImportError:
        print("mlxtend not installed: skipped")

    base = rows[0][2] / rows[0][1] * B
    print(f"paired bootstrap of an accuracy difference, n = {n:,} predictions, {B:,} resamples")
    print(f"point estimate B − A = {res.estimate:+.5f}; mathguard timings are the best of 3 runs "
          "(including input checks and cell counting over all n)")
    print(f"{'method':50s} {'ran':>7s} {'seconds':>9s} {'for ' + format(B, ','):>12s} {'× mathguard':>12s}  95 % CI")
    for name, k, t, ci in rows:
        full = t / k * B
        note = "" if k == B else " (extrapolated)"
        ci_txt = "" if ci is None else f"[{ci[0]:+.5f}, {ci[1]:+.5f}]"
        print(f"{name:50s} {k:7d} {t:9.2f} {full:11.1f}s {full / base:11.1f}x  {ci_txt}{note}")


if __name__ == "__main__":
    main()
