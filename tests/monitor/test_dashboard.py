"""The dashboard in headless Chromium (Debian's package, driven by Playwright): charts with data, no network assets."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module", params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The dashboard is the same HTML on either database: SQLite alone here."""
    return f"sqlite:///{tmp_path_factory.mktemp('dash') / 'monitor.db'}"


def test_dashboard_shows_drift_and_entropy_charts(served, kit, model, tmp_path) -> None:  # noqa: ANN001
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (.ci/run installs it)")
    server, keys = served
    hour, now = 3600, time.time()
    rng = np.random.default_rng(5)
    for i in range(6):  # six past hours, drifting more and more
        start = (now // hour - 6 + i) * hour
        p = rng.dirichlet(np.ones(kit.N_CLASSES) * (1 + i), size=300)
        body = {"batch_id": f"d{i}", "features": (rng.normal(size=(300, kit.N_FEATURES)) + 0.3 * i).tolist(),
                "proba": p.tolist(), "labels": p.argmax(axis=1).tolist(),
                "timestamps": [start + j for j in range(300)]}
        assert httpx.post(f"{server.url}/v1/models/{model}/events", json=body,
                          headers=kit.auth(keys["ingest"])).status_code == 201
    foreign: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(server.url) else None)
        deadline = time.time() + 60
        while True:  # until the worker has folded all six windows
            page.goto(f"{server.url}/#token={keys['read']}")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            card = page.locator(f"section.model[data-model='{model}']")
            if card.locator("svg[aria-label^='Drift'] circle.point").count() == 6 or time.time() > deadline:
                break
            time.sleep(0.5)
        assert card.locator("svg[aria-label^='Drift'] circle.point").count() == 6
        assert card.locator("svg[aria-label^='Mean prediction entropy'] circle.point").count() == 6
        assert "drift" in card.locator(".badge.verdict").inner_text()
        assert card.locator("svg[aria-label^='Standardised condition number'] circle.point").count() == 6
        assert card.locator("svg[aria-label^='ECE'] circle.point").count() == 6
        assert card.locator("table.per-class tr").count() == 1 + kit.N_CLASSES  # header + one row per class
        assert "largest VIF" in card.locator("p.linalg").inner_text()
        shot = Path(os.environ.get("MG_DASHBOARD_SHOT", tmp_path / "dashboard.png"))
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 20_000  # a page with charts, not a blank one
    assert foreign == []
