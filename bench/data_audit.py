"""Benchmark of `mathguard.audit_data` against statsmodels' VIF loop and a bare XᵀX, plus peak memory
while auditing a 2,000,000 × 100 Parquet file read in chunks.

Run: python bench/data_audit.py [--rows 200000] [--cols 50] [--sm-cols 5] [--big-rows 2000000]
All figures below come from this one run on this machine. BLAS runs single-threaded
(OPENBLAS_NUM_THREADS=1 unless set) so that ratios are stable on a shared, loaded machine;
both sides use the same BLAS, and every timing is the best of several repeats.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def correlated(n: int, p: int, seed: int = 0) -> np.ndarray:
    """Gaussian features with a random correlation structure (VIFs between ~1 and ~20)."""
    rng = np.random.default_rng(seed)
    mix = np.eye(p) + 0.3 * rng.normal(size=(p, p)) / np.sqrt(p)
    return rng.normal(size=(n, p)) @ mix + rng.uniform(-5, 5, size=p)


def vif_comparison(n: int, p: int, sm_cols: int) -> None:
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    from statsmodels.tools import add_constant

    from mathguard.data import audit_data

    X = correlated(n, p)
    names = [f"f{i}" for i in range(p)]
    t_gram = best_of(lambda: X.T @ X)
    t_audit = best_of(lambda: audit_data(X, feature_names=names, figures=False))
    t_full = best_of(lambda: audit_data(X, feature_names=names), repeat=1)
    exog = add_constant(X)
    t0 = time.perf_counter()
    sm = [variance_inflation_factor(exog, i + 1) for i in range(sm_cols)]
    t_sm_part = time.perf_counter() - t0
    t_sm = t_sm_part * p / sm_cols
    ours = audit_data(X, feature_names=names, figures=False).metrics["vif"]
    err = max(abs(ours[names[i]] - v) / v for i, v in enumerate(sm))
    print(f"== VIF / full audit on {n:,} × {p} float64 (random correlated features; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']})")
    print(f"bare X.T @ X                           {t_gram * 1e3:9.1f} ms")
    print(f"mathguard audit_data (no figures)      {t_audit * 1e3:9.1f} ms   = {t_audit / t_gram:5.2f}× X.T@X "
          "(target ≤ 3×)")
    print(f"mathguard audit_data (with 2 figures)  {t_full * 1e3:9.1f} ms   = {t_full / t_gram:5.2f}× X.T@X "
          "(figure rendering is a fixed cost, independent of n)")
    print(f"statsmodels VIF loop                   {t_sm * 1e3:9.1f} ms   (timed on {sm_cols} of {p} columns: "
          f"{t_sm_part * 1e3:.1f} ms, extrapolated linearly ×{p / sm_cols:g})")
    print(f"speed-up vs statsmodels                {t_sm / t_audit:9.0f}×   (target ≥ 200×); "
          f"max relative VIF difference on the timed columns {err:.1e}")


_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from mathguard.data import audit_data
r = audit_data(sys.argv[1], chunk_size=int(sys.argv[2]) if sys.argv[2] != "0" else None)
print(json.dumps({"seconds": time.perf_counter() - t0, "rank": r.metrics["rank"], "n_rows": r.metrics["n_rows"],
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def parquet_memory(rows: int, cols: int, row_group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.parquet"
        rng = np.random.default_rng(1)
        names = [f"f{i}" for i in range(cols)]
        schema = pa.schema([(n, pa.float64()) for n in names])
        t0 = time.perf_counter()
        with pq.ParquetWriter(path, schema, compression="snappy") as writer:
            for start in range(0, rows, row_group):
                block = rng.normal(size=(min(row_group, rows - start), cols)) + np.arange(cols)
                writer.write_table(pa.Table.from_arrays([pa.array(block[:, j]) for j in range(cols)], schema=schema))
        t_write = time.perf_counter() - t0
        size = path.stat().st_size
        out = subprocess.run([sys.executable, "-c", _CHILD, str(path), "0"], capture_output=True, text=True,
                             check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        peak = res["peak_rss_kib"] * 1024
        print(f"== Peak memory: audit of a {rows:,} × {cols} Parquet file ({size / 2**30:.2f} GiB on disk, "
              f"{rows * cols * 8 / 2**30:.2f} GiB as float64; row groups of {row_group:,} rows; written in "
              f"{t_write:.1f} s)")
        print(f"audit (own process, imports included)  {res['seconds']:9.1f} s    rank {res['rank']}, "
              f"{res['n_rows']:,} rows")
        print(f"peak resident memory (ru_maxrss)       {peak / 2**20:9.0f} MiB  (target < 1024 MiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=50)
    ap.add_argument("--sm-cols", type=int, default=5)
    ap.add_argument("--big-rows", type=int, default=2_000_000)
    ap.add_argument("--big-cols", type=int, default=100)
    ap.add_argument("--row-group", type=int, default=100_000)
    args = ap.parse_args()
    vif_comparison(args.rows, args.cols, args.sm_cols)
    parquet_memory(args.big_rows, args.big_cols, args.row_group)


if __name__ == "__main__":
    main()
