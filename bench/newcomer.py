"""The newcomer's path, timed: init → audit → profile → guard → serve → register → alert → log → drift → alert fires.

Every step is the command a new user types from the README, run in a fresh temporary folder
against a small digits MLP given as ``m.py:build`` with Parquet splits; the service is a real
``mathguard serve`` on SQLite. Prints one row per step: wall seconds, exit code, and the
line of output that matters. The log step sends a batch whose pixels are brightened, so the
drift alert (psi_max > 0.25) must fire; the script waits for it and says how long it took.

    python bench/newcomer.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_digits
from torch import nn

import mathguard as mg
from mathguard.monitor.pgtemp import free_port

MODEL = """
from pathlib import Path
import torch
from torch import nn

def build():
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    net.load_state_dict(torch.load(Path(__file__).with_name("weights.pt")))
    return net.eval()
"""


def prepare(folder: Path) -> None:
    """The user's own model and data: an MLP trained on 1,200 digits, the splits as Parquet and .npz."""
    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    mg.defend.train(net, mg.defend.batches(torch.tensor(x[:1200]), torch.tensor(y[:1200])),
                    lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb), epochs=15, lr=3e-3)
    torch.save(net.state_dict(), folder / "weights.pt")
    (folder / "m.py").write_text(MODEL)
    cols = [f"x{i}" for i in range(64)]
    pd.DataFrame(x[:1200], columns=cols).assign(label=y[:1200]).to_parquet(folder / "train.parquet")
    pd.DataFrame(x[1200:1500], columns=cols).assign(label=y[1200:1500]).to_parquet(folder / "test.parquet")
    np.savez(folder / "tr.npz", x=x[:1200], y=y[:1200])
    np.savez(folder / "va.npz", x=x[1200:1500], y=y[1200:1500])
    np.savez(folder / "batch.npz", x=x[1500:], y=y[1500:])
    bright = np.clip(x[1500:] * 1.6 + 0.15, 0, 1)  # a camera that started over-exposing
    pd.DataFrame(bright, columns=cols).to_parquet(folder / "current.parquet")
    np.save(folder / "bright.npy", bright)


def step(name: str, command: list[str], folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    print(f"{name:10s} {seconds:7.2f} s  exit {done.returncode}  mathguard {' '.join(command[3:5])}: "
          f"{lines[-1][:110] if lines else ''}")
    return done


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", default=None, help="Run in this (new) folder and keep it.")
    args = ap.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="mathguard-newcomer-"))
    folder.mkdir(parents=True, exist_ok=True)
    exe = [sys.executable, "-c", "from mathguard.cli import main; main()"]
    env = {**os.environ}
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores; folder {folder}")
    prepare(folder)
    db = f"sqlite:///{folder / 'mathguard.db'}"
    server = None
    try:
        step("init", [*exe, "init"], folder, env)
        step("audit", [*exe, "audit", "--model", "m.py:build", "--train", "train.parquet", "--test", "test.parquet",
                       "--target", "label", "--out", "audit", "--budget", "2m", "--fail-on", "never"], folder, env)
        step("profile", [*exe, "profile", "train.parquet", "--target", "label", "--json", "ref.json"], folder, env)
        step("guard", [*exe, "guard", "--model", "m.py:build", "--data", "batch.npz", "--profile", "ref.json",
                       "--detectors", "energy", "--train", "tr.npz", "--val", "va.npz", "--decisions", "d.csv",
                       "--fail-on", "never"], folder, env)
        key = step("keys", [*exe, "keys", "create", "--db", db, "--scope", "admin,ingest,read", "--name", "ops"],
                   folder, env).stdout.strip().splitlines()[-1]
        port = free_port()
        start = time.perf_counter()
        server = subprocess.Popen([*exe, "serve", "--db", db, "--port", str(port), "--alert-interval", "2s"],
                                  cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        import httpx

        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"{'serve':10s} {time.perf_counter() - start:7.2f} s  up on {url}")
        env.update(MATHGUARD_URL=url, MATHGUARD_KEY=key)
        step("register", [*exe, "models", "register", "--name", "digits", "--profile", "ref.json"], folder, env)
        step("alert", [*exe, "alerts", "add", "--model", "digits", "--name", "drift", "--metric", "psi_max",
                       "--op", ">", "--threshold", "0.25", "--window", "1h"], folder, env)
        start = time.perf_counter()
        with mg.monitor.Client(url, key, "digits", spool_dir=folder / "spool") as client:
            client.log(np.load(folder / "bright.npy"), np.full((297, 10), 0.1))
        print(f"{'log':10s} {time.perf_counter() - start:7.2f} s  297 events acknowledged (Client.log)")
        step("drift", [*exe, "drift", "ref.json", "current.parquet", "--html", "drift.html", "--fail-on", "never"],
             folder, env)
        start = time.perf_counter()
        while time.perf_counter() - start < 120:
            listed = subprocess.run([*exe, "alerts", "list", "--model", "digits"], cwd=folder, env=env,
                                    capture_output=True, text=True).stdout
            if "firing" in listed:
                break
            time.sleep(0.5)
        state = "firing" if "firing" in listed else "NOT firing after 120 s"
        print(f"{'fires':10s} {time.perf_counter() - start:7.2f} s  alert 'drift' {state}")
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
