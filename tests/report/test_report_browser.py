"""Reports in headless Chromium (#25): within a 1280 px viewport, every metric reachable, no stubs cut to '…'."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

import mathguard as mg
from mathguard.report import Finding, Report, Severity, Table

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def leaf_keys(value, prefix=""):
    """Every key of a nested metric, as the text a reader must be able to find."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from leaf_keys(v, prefix)
    elif isinstance(value, list):
        for v in value:
            yield from leaf_keys(v, prefix)


def check_in_browser(path, metric_keys, shot=None):
    """Open ``path`` at 1280 px: no horizontal overflow, and with every <details> open each key is visible text."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"file://{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        text = page.inner_text("body")
        wide = page.evaluate("document.documentElement.scrollWidth")
        if shot is not None:
            page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert width <= 1280 and wide <= 1280, (width, wide)
    missing = sorted({k for k in metric_keys if k not in text})
    assert not missing, missing[:20]
    return text


def test_a_wide_nested_report_fits_and_shows_everything(tmp_path):
    rng = np.random.default_rng(0)
    cols = [f"a_rather_long_feature_name_{i}" for i in range(40)]
    ref = pd.DataFrame(rng.normal(size=(2000, 40)), columns=cols)
    cur = ref + rng.normal(0.3, 1, size=(2000, 40))
    drift = mg.drift.compare(ref, cur, multivariate=False)
    root = Report(title="wide", metrics={
        "robust_points": {0.03: np.array([True, False] * 60)},
        "attacks": [{"attack": "APGD-CE", "steps": 100, "loss": "ce"}, {"attack": "Square", "queries": 1000}],
        "results": {"noise 0.5σ": {"energy": {"auroc": 0.91, "aupr": 0.8}}},
        "layers": {0: {"sigma_max": 1.5, "stable_rank": 3.2}}, "budget": {"seconds": 600, "used": 12.5}})
    root.tables.append(Table("Scorecard", ("lens", "status"), (("data", "pass"),)))
    root.metrics["scorecard"] = {"data": {"status": "pass", "key": "rank 40 of 40"}}
    for i in range(5):
        root.add(Finding(id="info.feature-drift", lens="info", severity=Severity.HIGH, title=f"feature {i} moved",
                         evidence={"psi": 0.3 + i}))
    root.add_section(drift)
    path = tmp_path / "wide.html"
    root.to_html(path)
    html = path.read_text()
    assert "…" not in html.split("<body>")[1].replace("… (+", "")  # nothing cut to an ellipsis
    assert html.count("5 × feature 0 moved") == 1  # one card for the repeated finding id
    assert html.count("Scorecard") == 1  # not repeated as a raw metric
    keys = set(leaf_keys(root.metrics)) - {"scorecard", "data", "status", "key"} | set(cols)
    check_in_browser(path, keys)
