"""A field collector's day through the API: the route, their profile, and the GPS check of a
recorded visit."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from app.domain.roles import Role, Skill
from app.models.debtor import ContactPoint, DebtorFlag
from app.models.interaction import Interaction
from app.models.partner import Partner
from app.models.plan import PaymentPlan, PlanInstallment
from app.models.promise import Promise
from app.models.user import User
from tests.factories import assert_problem, make_account, make_debtor, make_partner, make_team

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
        assert_problem(response, 422, "invalid_input")

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
            assert_problem(response, 422, ("invalid_input", "validation_failed"))


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


# --- what a stop carries to the door --------------------------------------------------------

DAY = date(2027, 3, 9)  # a Tuesday, no holiday


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CDMX)


async def record(session, account, channel: str, at: datetime, result: str) -> Interaction:
    interaction = Interaction(
        account_id=account.id, partner_id=account.partner_id, debtor_id=account.debtor_id,
        channel=channel, direction="outbound", party="debtor", result_code=result,
        started_at=at.astimezone(UTC), pack_version="test", compliance={}, created_by="test",
    )  # fmt: skip
    session.add(interaction)
    await session.flush()
    return interaction


async def promise(session, account, amount: str, due: date, paid: str = "0") -> Promise:
    taken = await record(session, account, "call", local(DAY, 7) - timedelta(days=20), "RPC_PTP")
    row = Promise(
        account_id=account.id, partner_id=account.partner_id, interaction_id=taken.id,
        amount=Decimal(amount), currency=account.currency, due_date=due,
        paid_amount=Decimal(paid), created_by="test",
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row


async def active_plan(session, account, user, installments) -> PaymentPlan:
    """``installments``: (number, amount, paid, due date, status)."""
    total = sum((Decimal(amount) for _, amount, _, _, _ in installments), Decimal(0))
    plan = PaymentPlan(
        account_id=account.id, partner_id=account.partner_id, plan_type="regularization",
        status="active", terms={}, breaches=[], agreed_total=total, financed=total,
        currency=account.currency, quoted_on=DAY - timedelta(days=40), strategy_version=1,
        approver_role="collector", proposed_by=user.id,
    )  # fmt: skip
    session.add(plan)
    await session.flush()
    for number, amount, paid, due, status in installments:
        session.add(
            PlanInstallment(
                plan_id=plan.id, number=number, amount=Decimal(amount),
                paid_amount=Decimal(paid), due_date=due, status=status,
            )
        )  # fmt: skip
    await session.flush()
    return plan


@pytest.fixture
async def door_day(session, make_user, auth_headers, clock):
    """The field collector's accounts on DAY, 09:00 in Mexico City: one with promises, one
    with an active plan (and a later promise), one visited this morning, one visited late
    last night (today in UTC, yesterday in Mexico City), one with nothing due, and one in
    Monterrey."""
    clock.now = local(DAY, 9)
    partner = await make_partner(session)
    field = await make_user(Role.COLLECTOR, skills=[Skill.FIELD])
    accounts = {}
    for name, north in (
        ("promised", 0.01), ("planned", 0.02), ("visited", 0.005), ("last_night", 0.03),
        ("plain", 0.04),
    ):  # fmt: skip
        debtor = await make_debtor(session, first_names=f"Rosa {name}", last_names="Pérez Gómez")
        account = await make_account(
            session, partner, debtor, dpd=LATE_DPD, assigned_collector_id=field.id,
            external_ref=name, principal=Decimal("1000.00"), interest=Decimal("100.00"),
            fees=Decimal("50.00"),
        )  # fmt: skip
        await address(session, account, ZOCALO[0] + north, ZOCALO[1])
        accounts[name] = account
    monterrey = await make_account(
        session, partner, dpd=LATE_DPD, assigned_collector_id=field.id, external_ref="mty"
    )
    await address(
        session, monterrey, 25.67, -100.31, state="Nuevo León", municipality="Monterrey",
        postal_code="64000",
    )  # fmt: skip
    accounts["mty"] = monterrey

    await promise(session, accounts["promised"], "500.00", DAY + timedelta(days=3), paid="100.00")
    await promise(session, accounts["promised"], "900.00", DAY + timedelta(days=10))
    plan = await active_plan(
        session, accounts["planned"], field,
        [
            (0, "200.00", "200.00", DAY - timedelta(days=30), "paid"),
            (1, "1000.00", "300.00", DAY - timedelta(days=2), "partially_paid"),
            (2, "1000.00", "0", DAY + timedelta(days=28), "pending"),
        ],
    )  # fmt: skip
    await promise(session, accounts["planned"], "150.00", DAY + timedelta(days=1))
    await record(session, accounts["visited"], "visit", local(DAY, 8, 30), "NO_ANSWER")
    await record(
        session, accounts["last_night"], "visit", local(DAY - timedelta(days=1), 23, 30),
        "NO_ANSWER",
    )  # fmt: skip
    await session.flush()
    return {"field": auth_headers(field), "accounts": accounts, "plan": plan}


async def route_on(client, headers, **params):
    query = {"date": DAY.isoformat(), "start_lat": ZOCALO[0], "start_lng": ZOCALO[1]}
    response = await client.get("/api/v1/routes/me", params=query | params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestStopContent:
    async def test_a_stop_carries_what_the_visit_needs(self, client, door_day):
        route = await route_on(client, door_day["field"])
        stops = {s["external_ref"]: s for s in route["stops"]}
        promised = stops["promised"]
        # The name as the partner sent it, to the collector the account is assigned to.
        assert promised["debtor_name"] == "Rosa promised Pérez Gómez"
        # The street line masked, the locality in clear.
        assert promised["address"].startswith("Cal") and promised["address"].endswith("***")
        assert (promised["municipality"], promised["state"], promised["postal_code"]) == (
            "Cuauhtémoc", "Ciudad de México", "06000",
        )  # fmt: skip
        # Money as the API writes it: a string amount and its currency.
        assert (promised["currency"], promised["total"]) == ("MXN", "1150.00")
        assert promised["past_due_amount"] == "300.00"
        assert (promised["stage"], promised["dpd"]) == ("late", LATE_DPD)
        assert promised["visited_today"] is False

    async def test_the_obligation_due_first(self, client, door_day):
        stops = {s["external_ref"]: s for s in (await route_on(client, door_day["field"]))["stops"]}
        # The nearer of two pending promises, with what is still owed of it.
        due = stops["promised"]["due"]
        assert due["kind"] == "promise"
        assert (due["amount"], due["currency"]) == ("400.00", "MXN")
        assert due["due_date"] == (DAY + timedelta(days=3)).isoformat()
        assert due["overdue"] is False and due["promise_id"] and due["plan_id"] is None
        # The plan's overdue, partly paid installment comes before tomorrow's promise.
        due = stops["planned"]["due"]
        assert due["kind"] == "plan_installment"
        assert (due["installment_number"], due["amount"]) == (1, "700.00")
        assert due["due_date"] == (DAY - timedelta(days=2)).isoformat()
        assert due["overdue"] is True
        assert due["plan_id"] == str(door_day["plan"].id) and due["promise_id"] is None
        assert stops["plain"]["due"] is None

    async def test_visited_today_is_left_out_by_default(self, client, door_day):
        route = await route_on(client, door_day["field"])
        refs = [s["external_ref"] for s in route["stops"]]
        assert "visited" not in refs
        # Visited at 23:30 yesterday in Mexico City: today in UTC, not in the debtor's day.
        assert "last_night" in refs
        left = {item["external_ref"]: item for item in route["left_out"]}
        assert left["visited"]["reason"] == "visited_today"

    async def test_include_visited_plans_them_after_the_first_visits(self, client, door_day):
        route = await route_on(client, door_day["field"], include_visited="true")
        stops = route["stops"]
        assert stops[-1]["external_ref"] == "visited"
        assert stops[-1]["visited_today"] is True
        assert not any(s["visited_today"] for s in stops[:-1])
        assert [s["sequence"] for s in stops] == list(range(1, len(stops) + 1))
        assert datetime.fromisoformat(stops[-1]["arrival"]) >= datetime.fromisoformat(
            stops[-2]["departure"]
        )
        assert "visited" not in {item["external_ref"] for item in route["left_out"]}

    async def test_an_account_out_of_reach_is_too_far_with_its_distance(self, client, door_day):
        route = await route_on(client, door_day["field"])
        left = {item["external_ref"]: item for item in route["left_out"]}
        assert left["mty"]["reason"] == "too_far"
        # Zócalo – Monterrey's centre: about 705 km in a straight line.
        assert left["mty"]["distance_km"] == pytest.approx(705, abs=10)
        assert left["visited"]["distance_km"] is None

    async def test_statements_do_not_grow_with_the_stops(
        self, client, session, connection, door_day
    ):
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                statements.append(statement)

        async def statements_of_a_route() -> tuple[int, int]:
            statements.clear()
            route = await route_on(client, door_day["field"], include_visited="true")
            return len(statements), len(route["stops"])

        sync_connection = connection.sync_connection
        event.listen(sync_connection, "before_cursor_execute", count)
        try:
            few, few_stops = await statements_of_a_route()
            # Six more stops, each with a promise and a plan, every other one visited today.
            partner = await session.get(Partner, door_day["accounts"]["plain"].partner_id)
            collector = door_day["accounts"]["plain"].assigned_collector_id
            for n in range(6):
                account = await make_account(
                    session, partner, dpd=LATE_DPD, assigned_collector_id=collector,
                    external_ref=f"more-{n}",
                )  # fmt: skip
                await address(session, account, ZOCALO[0] - 0.005 * (n + 1), ZOCALO[1])
                await promise(session, account, "100.00", DAY + timedelta(days=n))
                user = await session.get(User, collector)
                await active_plan(
                    session, account, user, [(1, "50.00", "0", DAY + timedelta(days=n), "pending")]
                )
                if n % 2:
                    await record(session, account, "visit", local(DAY, 8), "NO_ANSWER")
            await session.flush()
            many, many_stops = await statements_of_a_route()
        finally:
            event.remove(sync_connection, "before_cursor_execute", count)
        assert many_stops == few_stops + 6
        assert many == few, statements
