"""GET /compliance/packs: the country rule packs, readable by any authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient

from app.domain.roles import STAFF_ROLES, Role
from app.routers import contact_check as compliance
from tests.factories import make_partner, partner_bearer

PACKS = "/api/v1/compliance/packs"


@pytest.fixture
async def packs_client(app) -> AsyncIterator[AsyncClient]:
    """A client over the app with the compliance router, whether main.py registers it or not."""
    if not any(getattr(route, "path", None) == PACKS for route in app.routes):
        app.include_router(compliance.router, prefix="/api/v1")
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


class TestListCompliancePacks:
    async def test_a_collector_reads_every_pack(self, packs_client, make_user, auth_headers):
        collector = await make_user(Role.COLLECTOR)
        response = await packs_client.get(PACKS, headers=auth_headers(collector))
        assert response.status_code == 200, response.text
        packs = {p["country"]: p for p in response.json()}
        assert list(packs) == ["MX", "CO", "PE", "CL", "BR", "US"]
        for country, pack in packs.items():
            assert pack["version"] == f"{country}-2026.1"
            assert pack["sources"]

        mx = packs["MX"]
        assert mx["hours"]["sunday"] == {"start": "07:00", "end": "22:00", "end_included": False}
        assert mx["caps"] == []
        assert mx["references"] == "locate_only"
        assert sorted(mx["vulnerable_flags"]) == ["minor", "older_adult"]
        assert "whereabouts" in mx["scripts"]["reference"]

        co = packs["CO"]
        assert co["hours"]["monday"] == {"start": "07:00", "end": "19:00", "end_included": False}
        assert co["hours"]["saturday"] == {"start": "08:00", "end": "15:00", "end_included": False}
        assert co["hours"]["sunday"] is None
        assert co["excluded_weekdays"] == ["sunday"]
        assert co["excludes_holidays"] is True
        assert co["visits_allowed"] is False and co["consent_required"] is True
        assert co["references"] == "forbidden"
        assert {r["code"] for r in co["after_contact"]} == {"after_contact", "one_channel_a_week"}

        assert packs["PE"]["excluded_weekdays"] == ["saturday", "sunday"]
        assert packs["CL"]["caps"][0]["channels"] == ["call", "visit"]
        assert packs["CL"]["caps"][0]["limit"] == 1
        assert packs["CL"]["caps"][1]["min_days_between"] == 2
        assert packs["BR"]["hours_in_law"] is False
        assert packs["BR"]["hours"]["monday"] == {
            "start": "00:00",
            "end": "24:00",
            "end_included": False,
        }

        us = packs["US"]
        assert us["caps"] == [
            {
                "channels": ["call"],
                "period_days": 7,
                "limit": 7,
                "min_days_between": 0,
                "source": us["caps"][0]["source"],
                "per_debt": True,
                "calendar_days": True,
            }
        ]
        assert "1006.14(b)(2)(i)(A)" in us["caps"][0]["source"]
        assert us["dispute_stops_collection"] is True
        # Reg F 1006.14(b)(2)(i)(B): a conversation with the person about this debt.
        assert us["after_contact"][0]["trigger"] == "person"
        assert us["after_contact"][0]["calendar_days"] is True
        assert us["hours"]["monday"] == {"start": "08:00", "end": "21:00", "end_included": True}

    async def test_the_packs_show_the_citation_of_every_law_reason(
        self, packs_client, make_user, auth_headers
    ):
        collector = await make_user(Role.COLLECTOR)
        response = await packs_client.get(PACKS, headers=auth_headers(collector))
        packs = {p["country"]: p for p in response.json()}
        assert "1006.6(b)(1)(i)" in packs["US"]["citations"]["hours"]
        assert "1006.6(b)(2)" in packs["US"]["citations"]["attorney"]
        assert "07:00–22:00" in packs["MX"]["citations"]["hours"]
        assert (
            "a menos que este último sea el deudor"
            in (packs["MX"]["citations"]["older_adult_third_party"])
        )
        assert "art. 3" in packs["CO"]["citations"]["hours"]
        assert "art. 37" in packs["CL"]["citations"]["hours"]
        assert packs["BR"]["citations"] == {}  # no hours in Brazilian law

    @pytest.mark.parametrize("role", sorted(STAFF_ROLES))
    async def test_every_staff_role_may_read(self, packs_client, make_user, auth_headers, role):
        user = await make_user(role)
        response = await packs_client.get(PACKS, headers=auth_headers(user))
        assert response.status_code == 200
        assert len(response.json()) == 6

    async def test_a_partner_system_may_read(self, packs_client, session, settings):
        headers = await partner_bearer(session, settings, await make_partner(session))
        response = await packs_client.get(PACKS, headers=headers)
        assert response.status_code == 200
        assert len(response.json()) == 6

    async def test_without_a_token_it_is_401(self, packs_client):
        response = await packs_client.get(PACKS)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "not_authenticated"

    async def test_the_operators_stricter_overrides_show(
        self, app, packs_client, settings, make_user, auth_headers
    ):
        overrides = {"MX": {"hours": {"start": "08:00", "end": "21:00"}}}
        app.state.settings = settings.model_copy(update={"compliance_overrides": overrides})
        manager = await make_user(Role.MANAGER)
        response = await packs_client.get(PACKS, headers=auth_headers(manager))
        assert response.status_code == 200
        mx = next(p for p in response.json() if p["country"] == "MX")
        assert mx["version"].startswith("MX-2026.1+")
        assert mx["hours"]["friday"] == {"start": "08:00", "end": "21:00", "end_included": False}
