"""The debtor portal in a real browser: a real ``cartera serve`` on a committed test
database, headless Chromium driven by Selenium at a phone's width, walking link → verify →
debt → accept the settlement → download the agreement. Screenshots go to
``test-artifacts/portal-*.png`` (git-ignored).

Needs Debian's ``chromium`` and ``chromium-driver`` (.ci/run installs them)."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from app.db import open_database
from app.domain.roles import Role
from app.models.user import User
from app.security import hash_secret_now
from tests.conftest import TEST_PASSWORD, bearer_for
from tests.factories import make_account, make_debtor, make_partner
from tests.integration.conftest import committed_url  # noqa: F401  (fixture)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("chromedriver") is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; .ci/run installs them)",
)


async def _arrange(url: str, settings) -> tuple[str, dict[str, str]]:
    """A partner with its bank details, the debtor's nonaccrual account of 10,000 and a
    manager; committed. Returns the account id and the manager's headers."""
    database = open_database(url, settings)
    try:
        async with database.sessionmaker() as session:
            partner = await make_partner(
                session, legal_name="Banco Demostración S.A.", payment_bank_name="BBVA México",
                payment_clabe="032180000118359719", payment_cash_stores="OXXO",
            )  # fmt: skip
            debtor = await make_debtor(
                session, national_id="LOGM850430MDFPRR09", birth_date=date(1985, 4, 30)
            )
            account = await make_account(
                session, partner, debtor, dpd=120, stage="nonaccrual",
                principal=Decimal("10000.00"), interest=Decimal("0"), fees=Decimal("0"),
                past_due_amount=Decimal("1000.00"), payment_serial=4242,
            )  # fmt: skip
            manager = User(
                username="portal-manager", full_name="Portal Manager", role=Role.MANAGER.value,
                skills=[], password_hash=hash_secret_now(TEST_PASSWORD),
            )  # fmt: skip
            session.add(manager)
            await session.commit()
            return str(account.id), bearer_for(settings, manager)
    finally:
        await database.dispose()


def test_the_debtor_walks_the_portal(server, browser, committed_url, settings):  # noqa: F811
    account_id, manager = asyncio.run(_arrange(committed_url, settings))
    link = httpx.post(f"{server}/api/v1/accounts/{account_id}/portal-links", headers=manager)
    assert link.status_code == 201, link.text
    url = link.json()["url"]
    assert url.startswith(f"{server}/portal/start?t=")
    ARTIFACTS.mkdir(exist_ok=True)
    wait = WebDriverWait(browser, 20)

    # The link: a page in Spanish asking who you are.
    browser.get(url)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Confirme quién es usted"
    # Every field has its label.
    for field in ("birth_date", "national_id_last4"):
        label = browser.find_element(By.CSS_SELECTOR, f"label[for='{field}']")
        assert label.text
    browser.save_screenshot(str(ARTIFACTS / "portal-1-verify.png"))

    # A wrong answer first: the page says so, with the tries left.
    browser.find_element(By.ID, "factor-id").click()
    browser.find_element(By.ID, "national_id_last4").send_keys("0000")
    browser.find_element(By.ID, "verify").click()
    error = wait.until(ready.presence_of_element_located((By.ID, "error")))
    assert "4" in error.text

    # The right one: the debt.
    browser.find_element(By.ID, "factor-id").click()
    browser.find_element(By.ID, "national_id_last4").send_keys("RR09")
    browser.find_element(By.ID, "verify").click()
    wait.until(ready.url_contains("/portal/debt"))
    assert "Banco Demostración S.A." in browser.find_element(By.TAG_NAME, "h1").text
    assert "10,000.00" in browser.find_element(By.ID, "total").text
    assert browser.find_element(By.ID, "reference").text
    # Fits a phone: nothing wider than the window.
    width = browser.execute_script("return document.documentElement.scrollWidth")
    viewport = browser.execute_script("return window.innerWidth")
    assert width <= viewport, (width, viewport)
    browser.save_screenshot(str(ARTIFACTS / "portal-2-debt.png"))

    # Accept the settlement: the plan, active, with its agreement.
    offer = browser.find_element(By.ID, "offer-settlement")
    assert "7,000.00" in offer.text
    browser.find_element(By.ID, "accept-settlement").click()
    wait.until(ready.url_contains("/portal/plans/"))
    assert "activo" in browser.find_element(By.ID, "plan-status").text.lower()
    browser.save_screenshot(str(ARTIFACTS / "portal-3-plan.png"))

    # Download the agreement.
    browser.find_element(By.ID, "download").click()
    downloads: Path = browser.downloads  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while not list(downloads.glob("*.pdf")):
        assert time.monotonic() < deadline, list(downloads.iterdir())
        time.sleep(0.2)
    pdf = next(downloads.glob("*.pdf"))
    time.sleep(0.5)  # the file is renamed to .pdf once complete
    assert pdf.read_bytes().startswith(b"%PDF")
    assert pdf.name.startswith("CONV-")

    # The pages carry a strict policy: their own stylesheet, no script at all.
    page = httpx.get(url)
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "style-src 'self'" in policy
    assert "script" not in policy and "<script" not in page.text
