"""The portal's HTML pages over HTTP: the session cookie's flags, CSRF on every form post,
the strict content security policy, Spanish first, and a refused offer shown as a page (the
walk in a real browser: tests/browser/test_portal_browser.py)."""

from __future__ import annotations

import re

import pytest
from httpx import ASGITransport, AsyncClient
from starlette.responses import Response

from app.db import Database
from app.main import create_app
from app.routers.portal_pages import set_session_cookie
from tests.helpers.portal import issue, token_of


@pytest.fixture
def world(portal_world):
    """The portal's world (tests/helpers/portal.py)."""
    return portal_world


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def _verified(client, world) -> str:
    url = (await issue(client, world)).json()["url"]
    token = token_of(url)
    page = await client.get(f"/portal/start?t={token}")
    assert page.status_code == 200
    response = await client.post(
        "/portal/start",
        data={"t": token, "csrf": _csrf(page.text), "factor": "national_id_last4",
              "national_id_last4": "RR09"},
    )  # fmt: skip
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/portal/debt"
    return response.headers["set-cookie"]


class TestPages:
    async def test_the_link_page_is_spanish_accessible_and_script_free(self, client, world):
        token = token_of((await issue(client, world)).json()["url"])
        page = await client.get(f"/portal/start?t={token}")
        assert '<html lang="es">' in page.text
        assert "Confirme quién es usted" in page.text
        assert '<label for="birth_date">' in page.text and 'id="birth_date"' in page.text
        assert "<script" not in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "style-src 'self'" in policy
        assert "script-src" not in policy and "unsafe-inline" not in policy
        english = await client.get(
            f"/portal/start?t={token}", headers={"Accept-Language": "en-US,en;q=0.9"}
        )
        assert '<html lang="en">' in english.text and "Confirm who you are" in english.text
        css = await client.get("/portal/static/portal.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")

    async def test_the_session_cookie_is_http_only_and_strict(self, client, world):
        cookie = await _verified(client, world)
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert "Path=/portal" in cookie
        assert "Secure" not in cookie  # tests run over plain http; production sets it

    def test_production_cookies_are_secure(self, settings):
        response = Response()
        set_session_cookie(settings.model_copy(update={"env": "production"}), response, "token", 60)
        assert "Secure" in response.headers["set-cookie"]

    async def test_form_posts_need_their_csrf_token(self, client, world):
        await _verified(client, world)
        page = await client.get("/portal/debt")
        assert page.status_code == 200, page.text
        assert "Ofertas para usted" in page.text
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.text))
        forged = {**fields, "csrf": "0" * 64}
        refused = await client.post("/portal/offers", data=forged)
        assert refused.status_code == 403
        token = token_of((await issue(client, world)).json()["url"])
        no_csrf = await client.post(
            "/portal/start", data={"t": token, "csrf": "x", "birth_date": "1985-04-30"}
        )
        assert no_csrf.status_code == 403

    async def test_the_debt_page_quotes_the_accounts_clabe_and_store_reference(
        self,
        client,
        world,
    ):
        await _verified(client, world)
        page = await client.get("/portal/debt")
        clabe = re.search(r'id="account-clabe">([0-9]{18})', page.text)
        store = re.search(r'id="store-reference">([0-9]+)<', page.text)
        assert clabe and store, page.text
        assert "CLABE de su cuenta (SPEI)" in page.text
        assert "Referencia para tiendas de conveniencia" in page.text
        barcode = await client.get("/portal/barcode.svg")
        assert barcode.status_code == 200
        assert barcode.headers["content-type"].startswith("image/svg+xml")
        assert store.group(1) in barcode.text  # the digits printed under the bars

    async def test_a_tampered_offer_is_a_page_not_a_plan(self, client, world):
        await _verified(client, world)
        page = await client.get("/portal/debt")
        form = page.text.split('id="offer-settlement"', 1)[1]
        fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form))
        fields["discount_pct"] = "60"
        response = await client.post("/portal/offers", data=fields)
        assert response.status_code == 422
        assert "Oferta no disponible" in response.text
        assert response.headers["content-type"].startswith("text/html")

    async def test_without_a_session_the_pages_say_so(self, engine, sessionmaker, settings):
        app = create_app(settings, Database(engine, sessionmaker))
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            response = await c.get("/portal/debt")
        assert response.status_code == 401
        assert "Sesión terminada" in response.text
