"""A field collector's day through the API: the route, their profile, and the GPS check of a
recorded visit."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.domain.roles import Role, Skill
from app.models.debtor import ContactPoint, DebtorFlag
from app.models.interaction import Interaction
from app.models.partner import Partner
from tests.factories import make_account, make_partner, make_team

CDMX = ZoneInfo("America/Mexico_City")
ZOCALO = (19.432608, -99.133209)
LATE_DPD = 75  # the default strategy visits from the late stage on


def tomorrow() -> date:
    return datetime.now(CDMX).date() + timedelta(days=1)


def yesterday_noon() -> datetime:
    day = datetime.now(CDMX).date() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=CDMX).astimezone(UTC)


async def address(session, account, lat: float | None, lng: float | None, **extra) -> ContactPoint:
    place = {
        "state": "Ciudad de México",
        "municipality": "Cuauhtémoc",
        "postal_code": "06000",
        "time_zone": "America/Mexico_City",
    }
    point = ContactPoint(
        partner_id=account.partner_id,
        account_id=account.id,
        debtor_id=account.debtor_id,
        kind="address",
        value=f"Calle {uuid.uuid4().hex[:6]} 12, Col. Centro",
        latitude=None if lat is None else Decimal(str(lat)),
        longitude=None if lng is None else Decimal(str(lng)),
        **(place | extra),
    )
    session.add(point)
    await session.flush()
    return point


@pytest.fixture
async def field_day(session, make_user, auth_headers):
    """A field collector with three visitable accounts north of the Zócalo (created out of
    order), one in a stage without visits, one whose debtor asked contact to cease, one
    without coordinates and one of another collector."""
    partner = await make_partner(session)
    field = await make_user(Role.COLLECTOR, skills=[Skill.FIELD])
    other = await make_user(Role.COLLECTOR, skills=[Skill.FIELD])
    lead = await make_user(Role.TEAM_LEAD)
    await make_team(session, lead=lead, members=[field])
    accounts = {}
    points = {}
    for name, north in (("third", 0.03), ("first", 0.01), ("second", 0.02)):
        account = await make_account(
            session, partner, dpd=LATE_DPD, assigned_collector_id=field.id, external_ref=name
        )
        accounts[name] = account
        points[name] = await address(session, account, ZOCALO[0] + north, ZOCALO[1])
    mid = await make_account(
        session, partner, dpd=45, assigned_collector_id=field.id, external_ref="mid"
    )
    await address(session, mid, ZOCALO[0] + 0.005, ZOCALO[1])
    ceased = await make_account(
        session, partner, dpd=LATE_DPD, assigned_collector_id=field.id, external_ref="ceased"
    )
    await address(session, ceased, ZOCALO[0] + 0.015, ZOCALO[1])
    session.add(
        DebtorFlag(
            debtor_id=ceased.debtor_id, account_id=ceased.id, partner_id=partner.id,
            kind="cease_contact", set_by="test",
        )
    )  # fmt: skip
    unplaced = await make_account(
        session, partner, dpd=LATE_DPD, assigned_collector_id=field.id, external_ref="unplaced"
    )
    await address(session, unplaced, None, None)
    foreign = await make_account(
        session, partner, dpd=LATE_DPD, assigned_collector_id=other.id, external_ref="foreign"
    )
    await address(session, foreign, ZOCALO[0] + 0.001, ZOCALO[1])
    await session.flush()
    return {
        "field_user": field,
        "field": auth_headers(field),
        "other": auth_headers(other),
        "lead": auth_headers(lead),
        "phone": auth_headers(await make_user(Role.COLLECTOR, skills=[Skill.PHONE])),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "accounts": accounts,
        "points": points,
    }


async def get_route(client, headers, **params):
    query = {"date": tomorrow().isoformat(), "start_lat": ZOCALO[0], "start_lng": ZOCALO[1]}
    return await client.get("/api/v1/routes/me", params=query | params, headers=headers)


class TestMyRoute:
    async def test_only_eligible_accounts_in_travel_order(self, client, field_day):
        response = await get_route(client, field_day["field"])
        assert response.status_code == 200, response.text
        route = response.json()
        assert route["method"] == "ortools"
        assert [s["external_ref"] for s in route["stops"]] == ["first", "second", "third"]
        assert [s["sequence"] for s in route["stops"]] == [1, 2, 3]
        first = route["stops"][0]
        assert first["distance_km"] == pytest.approx(1.112, abs=0.01)
        assert first["address"].endswith("***")  # masked
        assert first["window"]["opens_at"].endswith("-06:00")  # local time
        assert first["arrival"] >= route["settings"]["shift_starts_at"]
        assert route["start"]["source"] == "query"
        left = {item["external_ref"]: item for item in route["left_out"]}
        assert set(left) == {"ceased", "unplaced"}  # "mid" is no field account; "foreign"
        assert left["ceased"]["reason"] == "contact_not_allowed"
        assert "cease_contact" in left["ceased"]["rules"]
        assert left["unplaced"]["reason"] == "no_coordinates"
        totals = route["totals"]
        assert totals["stops"] == 3
        assert totals["distance_km"] == pytest.approx(3 * 1.112, abs=0.03)
        assert totals["service_minutes"] == 60

    async def test_a_visit_runs_on_the_address_clock_not_the_partners(
        self, client, session, field_day
    ):
        """An address in Tijuana (UTC-8 in winter; the partner is in Mexico City) opens at
        07:00 there: 09:00 in the capital, two hours after the capital's own addresses."""
        partner = await session.get(Partner, field_day["accounts"]["first"].partner_id)
        account = await make_account(
            session, partner, dpd=LATE_DPD, assigned_collector_id=field_day["field_user"].id,
            external_ref="tj",
        )  # fmt: skip
        await address(
            session, account, ZOCALO[0] + 0.04, ZOCALO[1],
            state="Baja California", municipality="Tijuana", postal_code="22000", time_zone=None,
        )  # fmt: skip
        await session.flush()
        response = await get_route(client, field_day["field"])
        assert response.status_code == 200, response.text
        stops = {s["external_ref"]: s for s in response.json()["stops"]}
        window = stops["tj"]["window"]["opens_at"]
        assert window.endswith("T07:00:00-08:00"), window
        assert stops["first"]["window"]["opens_at"].endswith("T07:00:00-06:00")

    async def test_arrivals_follow_one_another(self, client, field_day):
        stops = (await get_route(client, field_day["field"])).json()["stops"]
        for before, after in itertools.pairwise(stops):
            assert datetime.fromisoformat(before["departure"]) <= datetime.fromisoformat(
                after["arrival"]
            )
        start = datetime.fromisoformat(stops[0]["arrival"])
        assert start.hour == 9  # the default shift starts at 09:00

    async def test_capacity_from_the_profile_is_respected(self, client, field_day):
        user_id = field_day["field_user"].id
        put = await client.put(
            f"/api/v1/routes/profiles/{user_id}",
            json={
                "daily_capacity": 2,
                "start_latitude": "19.432608",
                "start_longitude": "-99.133209",
            },
            headers=field_day["manager"],
        )
        assert put.status_code == 201, put.text
        response = await client.get(
            "/api/v1/routes/me", params={"date": tomorrow().isoformat()}, headers=field_day["field"]
        )
        route = response.json()
        assert route["start"]["source"] == "profile"
        assert [s["external_ref"] for s in route["stops"]] == ["first", "second"]
        left = {item["external_ref"]: item["reason"] for item in route["left_out"]}
        assert left["third"] == "capacity"

    async def test_phone_collectors_and_other_roles_get_403(self, client, field_day):
        assert (await get_route(client, field_day["phone"])).status_code == 403
        assert (await get_route(client, field_day["manager"])).status_code == 403

    async def test_one_start_coordinate_is_422(self, client, field_day):
        response = await client.get(
            "/api/v1/routes/me",
            params={"date": tomorrow().isoformat(), "start_lat": 19.4},
            headers=field_day["field"],
        )
        assert response.status_code == 422

    async def test_another_collector_routes_only_their_own_accounts(self, client, field_day):
        route = (await get_route(client, field_day["other"])).json()
        assert [s["external_ref"] for s in route["stops"]] == ["foreign"]
        assert route["left_out"] == []


class TestFieldProfile:
    async def test_defaults_then_set_then_read_back(self, client, field_day):
        user_id = field_day["field_user"].id
        url = f"/api/v1/routes/profiles/{user_id}"
        own = await client.get(url, headers=field_day["field"])
        assert own.status_code == 200
        assert own.json()["is_default"] is True
        assert own.json()["daily_capacity"] == 12
        body = {"daily_capacity": 8, "shift_start": "08:00", "time_zone": "America/Tijuana"}
        assert (await client.put(url, json=body, headers=field_day["lead"])).status_code == 201
        again = await client.put(url, json=body | {"daily_capacity": 9}, headers=field_day["lead"])
        assert again.status_code == 200
        read = (await client.get(url, headers=field_day["manager"])).json()
        assert read["daily_capacity"] == 9 and read["version"] == 2
        assert read["is_default"] is False and read["shift_start"] == "08:00"

    async def test_access(self, client, field_day):
        url = f"/api/v1/routes/profiles/{field_day['field_user'].id}"
        assert (await client.get(url, headers=field_day["other"])).status_code == 404
        assert (await client.put(url, json={}, headers=field_day["field"])).status_code == 403

    async def test_invalid_profiles_are_422(self, client, field_day):
        url = f"/api/v1/routes/profiles/{field_day['field_user'].id}"
        for body in (
            {"start_latitude": "19.4"},
            {"shift_start": "18:00", "shift_end": "09:00"},
            {"time_zone": "Mars/Olympus"},
            {"daily_capacity": 0},
        ):
            response = await client.put(url, json=body, headers=field_day["manager"])
            assert response.status_code == 422, body


class TestVisitPosition:
    @pytest.fixture(autouse=True)
    def _entered_at_the_door(self, clock):
        clock.now = yesterday_noon() + timedelta(minutes=2)

    async def visit(self, client, field_day, name: str, lat: float, lng: float):
        return await client.post(
            f"/api/v1/accounts/{field_day['accounts'][name].id}/interactions",
            json={
                "channel": "visit",
                "contact_point_id": str(field_day["points"][name].id),
                "party": "none",
                "result_code": "ADDRESS_VERIFIED",
                "started_at": yesterday_noon().isoformat(),
                "position": {
                    "latitude": f"{lat:.6f}",
                    "longitude": f"{lng:.6f}",
                    "accuracy_m": 15,
                },
            },
            headers=field_day["field"],
        )

    async def test_a_fix_far_from_the_address_is_recorded_and_flagged(
        self, client, session, field_day
    ):
        # The "first" address is 0.01° (1.1 km) north of the Zócalo: standing at the Zócalo.
        response = await self.visit(client, field_day, "first", *ZOCALO)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["compliance"]["position_mismatch"] is True
        assert body["compliance"]["position"]["distance_m"] == pytest.approx(1112, abs=5)
        row = await session.scalar(select(Interaction).where(Interaction.id == body["id"]))
        assert row.position_mismatch is True and row.position_distance_m > 1000
        assert row.latitude == Decimal("19.432608")
        # The stored verdict is on the interaction itself, in the answer and when read back.
        assert body["position_mismatch"] is True
        assert body["position_distance_m"] == row.position_distance_m
        listed = await client.get(
            f"/api/v1/accounts/{field_day['accounts']['first'].id}/interactions",
            headers=field_day["field"],
        )
        assert listed.status_code == 200, listed.text
        (item,) = [i for i in listed.json()["items"] if i["id"] == body["id"]]
        assert (item["position_mismatch"], item["position_distance_m"]) == (
            True,
            row.position_distance_m,
        )

    async def test_a_fix_at_the_door_is_not_flagged(self, client, field_day):
        response = await self.visit(client, field_day, "second", ZOCALO[0] + 0.0201, ZOCALO[1])
        assert response.status_code == 201, response.text
        assert response.json()["compliance"]["position_mismatch"] is False
        assert response.json()["position_mismatch"] is False
        assert response.json()["position_distance_m"] < 50
