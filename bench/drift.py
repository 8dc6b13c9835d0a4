"""Drift on 1,000,000 × 20: mathguard against Evidently's data-drift preset, in one run.

Both sides get the same reference and current DataFrames (f0 shifted by 0.2σ, f1's
spread widened by 20 %, the rest unchanged). mathguard is timed three ways: profiling
the reference (done once, then stored), comparing the stored profile with the current
batch (the production path), and both together from raw data (Evidently's only path).
alibi-detect pins numpy<2 and cannot share this environment: give its own interpreter in
ALIBI_PYTHON (a venv with ``pip install alibi-detect``) and its KSDrift is timed there on
the same data, passed as .npy files (loading is not timed); without
it, the test KSDrift runs per feature (scipy's ks_2samp, Bonferroni) is timed here.
Memory is Python's traced peak (tracemalloc sees numpy's buffers). Finally a
10,000,000-row profile is built from generated chunks and its peak memory reported. The
false-alarm rate at the default thresholds (identical distributions, 100 seeds) and the
detection rate of a 0.2σ shift are measured too.

Targets (#28): the production path ≥ 150× faster than Evidently, raw-vs-raw ≥ 100×; the load
average is printed with the figures (a shared 2-core machine).

    pip install evidently   # Evidently needs pandas < 3: in another venv, named in EVIDENTLY_PYTHON
    python bench/drift.py [--rows 1000000] [--big-rows 10000000] [--repeat 3] [--only-ratios]
"""

from __future__ import annotations

import argparse
import os
import tracemalloc
from typing import Any, Callable

import numpy as np
import pandas as pd
from _timing import rounds, timed

import mathguard as mg


def frames(n: int, p: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    cols = [f"f{i}" for i in range(p)]
    ref = pd.DataFrame(rng.normal(size=(n, p)), columns=cols)
    cur = pd.DataFrame(rng.normal(size=(n, p)), columns=cols)
    cur["f0"] += 0.2
    cur["f1"] *= 1.2
    return ref, cur


def peak_mib(fn: Callable[[], Any]) -> float:
    """Peak traced memory of one more call, in MiB (tracing slows Python-heavy code, so never during a timed call)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def evidently_run(ref: pd.DataFrame, cur: pd.DataFrame) -> Any:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    return Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)


def evidently_drifted(snap: Any) -> list[str]:
    return [m["config"]["column"] for m in snap.dict()["metrics"]
            if m["config"]["type"].endswith("ValueDrift") and m["value"] >= m["config"]["threshold"]]


_EVIDENTLY_CHILD = """
import sys, time
import numpy as np, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
cols = sys.argv[3].split(",")
ref, cur = (pd.DataFrame(np.load(p), columns=cols) for p in sys.argv[1:3])
Report([DataDriftPreset()]).run(current_data=cur.iloc[:1000], reference_data=ref.iloc[:1000])  # lazy imports
t = time.perf_counter()
snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
seconds = time.perf_counter() - t
drifted = [m["config"]["column"] for m in snap.dict()["metrics"]
           if m["config"]["type"].endswith("ValueDrift") and m["value"] >= m["config"]["threshold"]]
print(seconds, ",".join(drifted) or "-")
"""


def evidently_child(python: str, ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[float, list[str]]:
    """Seconds of Evidently's Report.run in its own interpreter (Evidently needs pandas < 3), and what it
    found drifted; the frames travel as .npy files (loading and a warm-up run on 1000 rows are not timed)."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(Path(tmp) / f"{name}.npy") for name in ("ref", "cur")]
        np.save(paths[0], ref.to_numpy())
        np.save(paths[1], cur.to_numpy())
        out = subprocess.run([python, "-c", _EVIDENTLY_CHILD, *paths, ",".join(ref.columns)], capture_output=True,
                             text=True, check=True)
    seconds, drifted = out.stdout.split()[-2:]
    return float(seconds), [] if drifted == "-" else drifted.split(",")


def scipy_ks(ref: pd.DataFrame, cur: pd.DataFrame) -> list[float]:
    from scipy.stats import ks_2samp

    return [ks_2samp(ref[c].to_numpy(), cur[c].to_numpy()).pvalue * ref.shape[1] for c in ref.columns]


_ALIBI_CHILD = """
import sys, time
import numpy as np
from alibi_detect.cd import KSDrift
ref, cur = (np.load(p) for p in sys.argv[1:3])
t = time.perf_counter()
out = KSDrift(ref, p_val=0.05).predict(cur)
print(time.perf_counter() - t, int(out["data"]["is_drift"]), int((out["data"]["p_val"] < 0.05 / ref.shape[1]).sum()))
"""


def alibi_run(python: str, ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[float, int, int]:
    """Seconds of alibi-detect's KSDrift (fit + predict) in its own interpreter; drift flag; drifted features."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(Path(tmp) / f"{name}.npy") for name in ("ref", "cur")]
        np.save(paths[0], ref.to_numpy())
        np.save(paths[1], cur.to_numpy())
        out = subprocess.run([python, "-c", _ALIBI_CHILD, *paths], capture_output=True, text=True, check=True)
    seconds, flag, drifted = out.stdout.split()
    return float(seconds), int(flag), int(drifted)


def alarm_rates(seeds: int, rows: int = 2000) -> tuple[float, float, float]:
    """Share of seeds with any finding: identical distributions (false alarms, per-feature tests only and
    with the domain classifier on a fifth of the seeds), and a 0.2σ shift of one feature (detections)."""
    def pair(seed: int, shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = np.random.default_rng(seed)
        ref = pd.DataFrame(rng.normal(size=(rows, 6)), columns=[f"f{i}" for i in range(6)])
        cur = pd.DataFrame(rng.normal(size=(rows, 6)), columns=ref.columns)
        cur["f0"] += shift
        return ref, cur

    false = sum(bool(mg.drift.compare(*pair(s, 0.0), multivariate=False).findings) for s in range(seeds))
    false_mv = sum(bool(mg.drift.compare(*pair(s, 0.0)).findings) for s in range(seeds // 5))
    found = sum("f0" in mg.drift.compare(*pair(s, 0.2), multivariate=False).metrics["drifted_features"]
                for s in range(seeds))
    return false / seeds, false_mv / max(seeds // 5, 1), found / seeds


def big_profile(rows: int, p: int, chunk: int = 500_000) -> mg.drift.Profile:
    def chunks():
        rng = np.random.default_rng(1)
        for start in range(0, rows, chunk):
            yield pd.DataFrame(rng.normal(size=(min(chunk, rows - start), p)),
                               columns=[f"f{i}" for i in range(p)])

    return mg.drift.profile(chunks())


def _load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--big-rows", type=int, default=10_000_000)
    ap.add_argument("--seeds", type=int, default=100, help="seeds for the false-alarm and detection rates")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the mathguard timings (best shown)")
    ap.add_argument("--only-ratios", action="store_true",
                    help="stop after the Evidently ratios (no KS baseline, alarm rates or 10M-row profile)")
    args = ap.parse_args()
    ref, cur = frames(args.rows, args.features, 0)
    print(f"data: reference and current {args.rows:,} × {args.features} (f0 +0.2σ, f1 ×1.2 spread); {_load()}")

    mg.drift.compare(ref.iloc[:5000], cur.iloc[:5000])  # warm imports and thread pool
    prof = mg.drift.profile(ref)
    out: dict[str, Any] = {}
    times = {k: min(v) for k, v in rounds({
        "prof": lambda: mg.drift.profile(ref),
        "cmp": lambda: out.__setitem__("rep", mg.drift.compare(prof, cur)),
        "both": lambda: mg.drift.compare(ref, cur),
    }, args.repeat).items()}
    t_prof, t_cmp, t_both, rep = times["prof"], times["cmp"], times["both"], out["rep"]
    print(f"mathguard, best of {args.repeat} interleaved rounds ({_load()}):")
    print(f"mathguard profile(reference)          {t_prof:7.2f} s   peak {peak_mib(lambda: mg.drift.profile(ref)):6.0f} MiB")
    print(f"mathguard compare(profile, current)   {t_cmp:7.2f} s   peak "
          f"{peak_mib(lambda: mg.drift.compare(prof, cur)):6.0f} MiB   "
          f"drifted: {rep.metrics['drifted_features']}, AUC {rep.metrics['domain_auc']:.2f}")
    print(f"mathguard compare(raw, raw)           {t_both:7.2f} s")

    # Evidently needs pandas < 3: give an interpreter that has it in EVIDENTLY_PYTHON, or have it here.
    ev_python = os.environ.get("EVIDENTLY_PYTHON")
    t_ev = None
    try:
        if ev_python:
            t_ev, drifted = evidently_child(ev_python, ref, cur)
        else:
            t_ev, snap = timed(lambda: evidently_run(ref, cur))
            drifted = evidently_drifted(snap)
    except ImportError as exc:
        print(f"evidently cannot run here ({exc}); pip install evidently 'pandas<3' into another interpreter and "
              "name it in EVIDENTLY_PYTHON: ratios not measured")
    if t_ev is not None:
        print(f"evidently DataDriftPreset (raw, raw)  {t_ev:7.2f} s   drifted: {drifted}   ({_load()})")
        for label, t, target in (("production path (stored profile vs current)", t_cmp, 150),
                                 ("both from raw data", t_both, 100)):
            ratio = t_ev / t
            print(f"  ratio, {label + ':':46s} {ratio:6.1f}× faster (target ≥ {target}×: "
                  f"{'met' if ratio >= target else 'NOT met'})")
    if args.only_ratios:
        return

    alibi = os.environ.get("ALIBI_PYTHON")
    if alibi:
        t_al, flag, n_drift = alibi_run(alibi, ref, cur)
        print(f"alibi-detect KSDrift (raw, raw)       {t_al:7.2f} s   drift={bool(flag)}, {n_drift} features below "
              f"p/{args.features}")
        print(f"  ratio: {t_al / t_both:.1f}× mathguard's compare(raw, raw), which adds PSI/KL/JS/W1, the classifier "
              "and the charts")
    else:
        t_ks, _ = timed(lambda: scipy_ks(ref, cur))
        print(f"scipy ks_2samp per feature (alibi-detect KSDrift's test; set ALIBI_PYTHON to time alibi-detect "
              f"itself): {t_ks:.2f} s  → {t_ks / t_both:.1f}× mathguard's compare(raw, raw)")

    false, false_mv, found = alarm_rates(args.seeds)
    print(f"default thresholds, 2000 vs 2000 rows × 6 features: false-alarm rate {false:.2f} over {args.seeds} "
          f"seeds ({false_mv:.2f} over {args.seeds // 5} with the domain classifier); a 0.2σ shift of one "
          f"feature found in {found:.0%} of seeds")

    t_big, big = timed(lambda: big_profile(args.big_rows, args.features))
    m_big = peak_mib(lambda: big_profile(args.big_rows, args.features))
    print(f"profile of {args.big_rows:,} × {args.features} in 500k-row chunks: {t_big:.1f} s (incl. generating the "
          f"data), peak {m_big:.0f} MiB (target ≤ 1024), {big.n_rows:,} rows")


if __name__ == "__main__":
    main()
