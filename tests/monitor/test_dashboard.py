"""The dashboard in headless Chromium (Debian's package, driven by Playwright) against a real server.

Charts with data and no network assets; a page without a key (or with a refused one) says so and asks
for one; a key given as ``#token=`` leaves the address bar; the window choices follow the server's
resolution; a firing drift alert is never shown next to a milder verdict; the per-feature view names
the drifted feature and draws its histogram against the reference; nothing overflows 1280 px, not even a
200-character model name. ``MG_SCREENSHOTS=<folder>`` keeps the screenshots (overview.png, features.png,
key.png) there.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

from mathguard.monitor.dashboard import default_window, duration_label, window_choices

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HOUR = 3600
VERDICT_WORDS = ("no drift", "minor", "moderate", "major")


@pytest.fixture(scope="module", params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The dashboard is the same HTML on either database: SQLite alone here."""
    return f"sqlite:///{tmp_path_factory.mktemp('dash') / 'monitor.db'}"


@pytest.fixture(scope="module")
def browser() -> Iterator:  # noqa: ANN201
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MG_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _post(server, kit, key: str, model: str, batch_id: str, x: np.ndarray, start: float,  # noqa: ANN001
          proba: np.ndarray | None = None, spread: int = 3000) -> None:
    body = {"batch_id": batch_id, "features": x.tolist(), "timestamps": [start + j % spread for j in range(len(x))]}
    if proba is not None:
        body["proba"], body["labels"] = proba.tolist(), proba.argmax(axis=1).tolist()
    r = httpx.post(f"{server.url}/v1/models/{model}/events", json=body, headers=kit.auth(key))
    assert r.status_code == 201, r.text


def _folded(server, kit, keys, model: str) -> None:  # noqa: ANN001
    deadline = time.time() + 30
    while httpx.get(f"{server.url}/v1/models/{model}/stats",
                    headers=kit.auth(keys["read"])).json()["pending_events"] and time.time() < deadline:
        time.sleep(0.1)


def _open(browser, server, key: str | None, width: int = 1300, state: str = "ready"):  # noqa: ANN001, ANN202
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(server.url) else None)
    page.goto(f"{server.url}/" + (f"#token={key}" if key is not None else ""))
    page.wait_for_selector(f"body[data-state='{state}']", timeout=30_000)
    page.foreign = foreign
    return page


def test_dashboard_shows_drift_and_entropy_charts(served, kit, model, browser, shots) -> None:  # noqa: ANN001
    server, keys = served
    now = time.time()
    rng = np.random.default_rng(5)
    for i in range(6):  # six past hours, drifting more and more
        start = (now // HOUR - 6 + i) * HOUR
        p = rng.dirichlet(np.ones(kit.N_CLASSES) * (1 + i), size=300)
        _post(server, kit, keys["ingest"], model, f"d{i}", rng.normal(size=(300, kit.N_FEATURES)) + 0.3 * i, start, p)
    _folded(server, kit, keys, model)
    page = _open(browser, server, keys["read"], width=1280)
    card = page.locator(f"section.model[data-model='{model}']")
    assert card.locator("svg[aria-label^='Drift'] circle.point").count() == 6
    assert card.locator("svg[aria-label^='Mean prediction entropy'] circle.point").count() == 6
    assert "drift" in card.locator(".badge.verdict").inner_text()
    assert card.locator("svg[aria-label^='Standardised condition number'] circle.point").count() == 6
    assert card.locator("svg[aria-label^='ECE'] circle.point").count() == 6
    assert card.locator("table.per-class tr").count() == 1 + kit.N_CLASSES  # header + one row per class
    assert "largest VIF" in card.locator("p.linalg").inner_text()
    # The windows offered start at the server's resolution (1 h by default) and are multiples of it.
    assert page.locator("#window option").all_inner_texts() == ["1h", "6h", "1d", "7d"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    shot = shots / "overview.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000  # a page with charts, not a blank one
    page.select_option("#window", "86400")  # one day: the six hours merge into one or two points
    page.wait_for_selector("body[data-ready='1']")
    assert 1 <= card.locator("svg[aria-label^='Drift'] circle.point").count() <= 2
    assert page.foreign == []
    page.context.close()


def test_key_prompt_without_key_and_refusal_of_a_wrong_key(served, browser, shots) -> None:  # noqa: ANN001
    server, keys = served
    page = _open(browser, server, None, state="need-key")
    body = page.locator("body").inner_text()
    assert "read key is needed" in body and "Loading" not in body
    assert page.locator("#key").is_visible() and not page.locator("#overview").is_visible()
    page.screenshot(path=str(shots / "key.png"))
    page.context.close()

    page = _open(browser, server, "mg_not-a-key", state="refused")
    assert "refused this key (HTTP 401)" in page.locator("#keyprompt").inner_text()
    assert "unknown or revoked" in page.locator("#keyprompt").inner_text()
    assert page.locator("#key").is_visible()
    page.fill("#key", keys["ingest"])  # a real key without the read scope: 403
    page.click("#keyform button")
    page.wait_for_selector("#keyprompt.refused #keymsg:has-text('HTTP 403')")
    assert "lacks the 'read' scope" in page.locator("#keydetail").inner_text()
    page.fill("#key", keys["read"])  # typed into the page, it works
    page.click("#keyform button")
    page.wait_for_selector("body[data-state='ready']")
    assert not page.locator("#keyprompt").is_visible() and page.locator("#overview").is_visible()
    page.context.close()


def test_token_leaves_the_address_bar_and_stays_in_the_tab(served, browser) -> None:  # noqa: ANN001
    server, keys = served
    page = _open(browser, server, keys["read"])
    assert "token" not in page.evaluate("location.href") and keys["read"] not in page.url
    assert page.evaluate("sessionStorage.getItem('mg-read-key')") == keys["read"]
    assert page.evaluate("localStorage.length") == 0
    page.reload()  # the tab keeps the key; the address bar stays clean
    page.wait_for_selector("body[data-state='ready']")
    assert keys["read"] not in page.evaluate("location.href")
    page.context.close()


def test_window_choices_follow_the_resolution(served, kit) -> None:  # noqa: ANN001
    assert window_choices(3600) == [3600, 6 * HOUR, 24 * HOUR, 168 * HOUR]
    assert window_choices(60) == [60, 300, 900, 3600, 6 * HOUR, 24 * HOUR, 168 * HOUR]
    assert window_choices(5400) == [5400, 6 * HOUR, 24 * HOUR, 168 * HOUR]
    assert window_choices(11) == [11, 66, 264, 1848]
    assert window_choices(86400) == [86400, 6 * 86400, 7 * 86400]
    assert [duration_label(s) for s in (3600, 5400, 86400, 45)] == ["1h", "90m", "1d", "45s"]
    assert default_window(60) == 3600 and default_window(3600) == 3600 and default_window(11) == 11
    server, keys = served
    data = httpx.get(f"{server.url}/v1/dashboard", headers=kit.auth(keys["read"])).json()
    assert data["resolution_s"] == 3600 and data["window_s"] == 3600
    assert [w["label"] for w in data["windows"]] == ["1h", "6h", "1d", "7d"]
    bad = httpx.get(f"{server.url}/v1/dashboard", params={"window": "90s"}, headers=kit.auth(keys["read"]))
    assert bad.status_code == 422 and "multiple" in bad.json()["detail"]


def test_per_feature_view_names_the_drifted_feature(served, kit, model, browser, shots) -> None:  # noqa: ANN001
    server, keys = served
    rng = np.random.default_rng(8)
    now = time.time()
    for i, hour in enumerate((now // HOUR - 2, now // HOUR - 1)):  # two past hours; x3 moves in the second
        x = rng.normal(size=(600, kit.N_FEATURES))
        if i == 1:
            x[:, 3] += 1.5
        _post(server, kit, keys["ingest"], model, f"f{i}", x, hour * HOUR, rng.dirichlet(np.ones(kit.N_CLASSES), 600))
    _folded(server, kit, keys, model)

    # The histogram endpoint: read-scoped, the same PSI as the window's drift summary.
    url, read = f"{server.url}/v1/models/{model}/histogram", kit.auth(keys["read"])
    h = httpx.get(url, params={"feature": "x3"}, headers=read).json()
    assert h["start"] == (now // HOUR - 1) * HOUR and h["events"] == 600 and len(h["bins"]) == 10
    assert sum(h["reference_share"]) == pytest.approx(1) and sum(h["current_share"]) == pytest.approx(1)
    windows = httpx.get(f"{server.url}/v1/models/{model}/drift", params={"window": "1h", "start": now - 3 * HOUR},
                        headers=read).json()["windows"]
    assert round(h["psi"], 6) == windows[-1]["features"]["x3"]["psi"] and h["psi"] > 0.25
    assert httpx.get(url, params={"feature": "x3"}).status_code == 401
    assert httpx.get(url, params={"feature": "x3"}, headers=kit.auth(keys["ingest"])).status_code == 403
    missing = httpx.get(url, params={"feature": "nope"}, headers=read)
    assert missing.status_code == 404 and "x0" in missing.json()["detail"]

    page = _open(browser, server, keys["read"], width=1280)
    page.locator(f"section.model[data-model='{model}'] button.to-features").click()
    page.wait_for_selector("body[data-view='features'][data-ready='1']")
    assert page.locator("#pick-feature").input_value() == "x3"  # the most drifted feature is shown first
    assert "x3 (PSI" in page.locator("#features p.drifted").inner_text()
    assert page.locator("svg.heatmap g.feature-row").first.get_attribute("data-feature") == "x3"
    assert page.locator("svg.heatmap g.feature-row[data-feature='x3'] rect").count() == 2  # two windows
    hist = page.locator("svg.histogram[data-feature='x3']")
    assert hist.locator("rect.bar.ref").count() == 10 and hist.locator("rect.bar.cur").count() == 10
    assert "PSI" in page.locator("p.hist-summary").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(path=str(shots / "features.png"), full_page=True)
    page.select_option("#pick-feature", "x0")  # another feature: its own histogram
    page.wait_for_selector("svg.histogram[data-feature='x0']")
    assert page.locator("#feature-detail").get_attribute("data-feature") == "x0"
    assert page.foreign == []
    page.context.close()


def test_long_name_single_point_and_a_firing_alert_fit_1280px(served, kit, browser, shots) -> None:  # noqa: ANN001
    server, keys = served
    name = kit.register(server, keys["admin"], "L" + "o" * 198 + "g")
    assert len(name) == 200
    rng = np.random.default_rng(9)
    x = rng.normal(size=(600, kit.N_FEATURES))
    x[:, 0] += 0.6
    _post(server, kit, keys["ingest"], name, "one", x, time.time() - 5, rng.dirichlet(np.ones(kit.N_CLASSES), 600),
          spread=1)
    rule = {"name": "psi-high", "metric": "psi_max", "op": ">", "threshold": 0.05, "window": "2h", "for": "0s"}
    assert httpx.post(f"{server.url}/v1/models/{name}/alerts", json=rule,
                      headers=kit.auth(keys["admin"])).status_code == 201
    deadline = time.time() + 30
    while time.time() < deadline:  # the evaluator runs every second
        rules = httpx.get(f"{server.url}/v1/models/{name}/alerts", headers=kit.auth(keys["read"])).json()
        if rules[0]["state"] == "firing":
            break
        time.sleep(0.2)
    assert rules[0]["state"] == "firing"
    page = _open(browser, server, keys["read"], width=1280)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    card = page.locator(f"section.model[data-model='{name}']")
    title = card.locator("h2 .name")
    box, card_box = title.bounding_box(), card.bounding_box()
    assert box["x"] + box["width"] <= card_box["x"] + card_box["width"]
    assert title.evaluate("e => e.scrollWidth > e.clientWidth")  # cut with an ellipsis, full name in its title
    assert title.get_attribute("title") == name
    # One window: its time is written once under the axis, not twice.
    labels = card.locator("svg[aria-label^='Drift'] text.xlabel").all_inner_texts()
    assert len(labels) == 1 and card.locator("svg[aria-label^='Drift'] circle.point").count() == 1
    # The firing drift alert is the badge; no verdict word sits beside it.
    heading = card.locator("h2").inner_text()
    assert "drift alert firing: psi-high" in heading
    assert not any(word in heading for word in VERDICT_WORDS) and card.locator(".badge.verdict").count() == 0
    card.screenshot(path=str(shots / "overview-alert.png"))
    card.locator("button.to-features").click()
    page.wait_for_selector("body[data-view='features'][data-ready='1']")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert "drift alert firing" in page.locator("#features h2").first.inner_text()
    page.context.close()
