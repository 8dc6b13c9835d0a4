"""Benchmark of `mathguard.audit_data` against statsmodels' VIF loop and a bare XᵀX, plus peak memory
while auditing a 2,000,000 × 100 Parquet file read in chunks.

Run: python bench/data_audit.py [--rows 200000] [--cols 50] [--sm-cols N] [--big-rows 2000000]
All figures below come from this one run on this machine. BLAS runs single-threaded
(OPENBLAS_NUM_THREADS=1 unless set) so that ratios are stable on a shared, loaded machine;
both sides use the same BLAS. mathguard and XᵀX are the best of interleaved rounds; the
statsmodels loop (~1 minute on 200,000 × 50) runs once, on every column unless --sm-cols says
fewer, in which case its time is extrapolated linearly and labelled so.
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
from _timing import best_of, timed  # noqa: E402


def correlated(n: int, p: int, seed: int = 0) -> np.ndarray:
    """Gaussian features with a random correlation structure (VIFs between ~1 and ~20)."""
    rng = np.random.default_rng(seed)
    mix = np.eye(p) + 0.3 * rng.normal(size=(p, p)) / np.sqrt(p)
    return rng.normal(size=(n, p)) @ mix + rng.uniform(-5, 5, size=p)


def statsmodels_vif(X: np.ndarray, cols: int) -> tuple[float, list[float]]:
    """Seconds and VIFs of statsmodels' documented loop (one OLS per column, on X with a constant)."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    from statsmodels.tools import add_constant

    exog = add_constant(X)
    return timed(lambda: [variance_inflation_factor(exog, j + 1) for j in range(cols)])


def vif_comparison(n: int, p: int, sm_cols: int) -> None:
    from mathguard.data import audit_data

    X = correlated(n, p)
    best = best_of({"gram": lambda: X.T @ X, "audit": lambda: audit_data(X)}, repeat=7)
    t_gram, t_audit = best["gram"], best["audit"]
    report = audit_data(X)
    t_draw = timed(lambda: [f.png for f in report.figures])[0]
    t_part, sm = statsmodels_vif(X, sm_cols)
    t_sm = t_part * p / sm_cols
    ours = report.metrics["vif"]
    err = max(abs(ours[f"x{j}"] - v) / v for j, v in enumerate(sm))
    timed_on = "all columns, timed once" if sm_cols == p else \
        f"EXTRAPOLATED ×{p / sm_cols:.3g} from {sm_cols} of {p} columns: {t_part:.2f} s"
    print(f"== VIF / full audit on {n:,} × {p} float64 (random correlated features; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']})")
    print(f"bare X.T @ X                           {t_gram * 1e3:9.1f} ms")
    print(f"mathguard audit_data(X)                {t_audit * 1e3:9.1f} ms   = {t_audit / t_gram:5.2f}× X.T@X "
          "(target ≤ 3×; its 2 figures are drawn only when the report is rendered)")
    print(f"  drawing those 2 figures, once        {t_draw * 1e3:9.1f} ms   (independent of n; "
          "includes importing matplotlib)")
    print(f"statsmodels VIF loop                   {t_sm:9.2f} s    ({timed_on})")
    print(f"speed-up vs statsmodels                {t_sm / t_audit:9.0f}×   (target ≥ 200×); "
          f"max relative VIF difference {err:.1e} over {sm_cols} columns")


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
    ap.add_argument("--sm-cols", type=int, default=None, help="columns statsmodels is timed on (default: all)")
    ap.add_argument("--big-rows", type=int, default=2_000_000)
    ap.add_argument("--big-cols", type=int, default=100)
    ap.add_argument("--row-group", type=int, default=100_000)
    args = ap.parse_args()
    vif_comparison(args.rows, args.cols, min(args.sm_cols or args.cols, args.cols))
    parquet_memory(args.big_rows, args.big_cols, args.row_group)


if __name__ == "__main__":
    main()
