"""/docs and /redoc in a real browser: the pages draw the API from assets this server
serves, with no request leaving it (every blocked or failed load shows in the console) and
no script the policy had to refuse."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("chromedriver") is None,
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)


def _drawn(browser, selector: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [e.text for e in browser.find_elements(By.CSS_SELECTOR, selector) if e.text]
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"{selector} never drawn")


@pytest.mark.parametrize(("page", "title"), [("/docs", ".swagger-ui .info .title"),
                                             ("/redoc", "h1")])  # fmt: skip
def test_the_docs_draw_from_this_server_alone(server, browser, page, title):
    browser.get(server + page)
    assert "Cartera API" in _drawn(browser, title)
    requested = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert requested, "the page loaded nothing"
    console = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    # What the policy refused never left the browser (ReDoc reaches for its logo on its
    # CDN; img-src stops it), and it is the only refusal allowed: no script, no style.
    refused = [m for m in console if "violates the following Content Security Policy" in m]
    assert all("Loading the image" in m for m in refused), refused
    elsewhere = [
        url
        for url in requested
        if not url.startswith(server) and not any(url in m for m in refused)
    ]
    assert elsewhere == [], elsewhere
    errors = [m for m in console if m not in refused]
    assert errors == [], errors
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"docs{page.replace('/', '-')}.png"))
