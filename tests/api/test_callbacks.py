"""Callbacks ("reagendas"): agreed on the debtor's clock in a RPC_CALLBACK, taken up by the
collector's queue from the moment the contact law allows the call, done by the next
interaction once due, missed after the grace, cancelled with the account; listed per role."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from app.domain.roles import Role
from app.models.callback import Callback
from app.models.debtor import ContactPoint
from tests.factories import assert_problem, make_account, make_partner, make_team, partner_bearer

CDMX = ZoneInfo("America/Mexico_City")
TIJUANA = ZoneInfo("America/Tijuana")
CANCUN = ZoneInfo("America/Cancun")
CALLBACKS = "/api/v1/callbacks"
WORKLIST = "/api/v1/worklists/me"


def first_tuesday_ahead() -> date:
    """A Tuesday at least two days after today in Mexico City: every instant of the tests
    lies ahead of the real clock too (the contact check refuses dates far from it)."""
    day = datetime.now(CDMX).date() + timedelta(days=2)
    while day.weekday() != 1:
        day += timedelta(days=1)
    return day


DAY = first_tuesday_ahead()
NEXT = DAY + timedelta(days=1)


def at(zone: ZoneInfo, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


def wall(day: date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


async def add_phone(session, account, value: str, zone: str) -> ContactPoint:
    point = ContactPoint(
        partner_id=account.partner_id,
        account_id=account.id,
        debtor_id=account.debtor_id,
        kind="phone",
        value=value,
        time_zone=zone,
    )
    session.add(point)
    await session.flush()
    return point


@pytest.fixture
async def floor(session, make_user, auth_headers, clock, settings):
    """A Mexican partner; a team (lead, collector ``ana``) whose accounts have debtors in
    Mexico City (a big balance), Tijuana and Cancún (small ones); another team's collector
    ``beto`` with an account of their own; a manager; the partner's system and another's."""
    partner = await make_partner(session)
    other_partner = await make_partner(session)
    lead = await make_user(Role.TEAM_LEAD)
    ana = await make_user(Role.COLLECTOR)
    spare = await make_user(Role.COLLECTOR)
    team = await make_team(session, lead, [ana, spare])
    other_lead = await make_user(Role.TEAM_LEAD)
    beto = await make_user(Role.COLLECTOR)
    other_team = await make_team(session, other_lead, [beto])
    accounts = {}
    points = {}
    for name, principal, phone, zone in (
        ("cdmx", "90000", "+525512345678", "America/Mexico_City"),
        ("tijuana", "900", "+526641234567", "America/Tijuana"),
        ("cancun", "800", "+529981234567", "America/Cancun"),
    ):
        account = await make_account(
            session,
            partner,
            assigned_collector_id=ana.id,
            assigned_team_id=team.id,
            dpd=45,
            principal=Decimal(principal),
            interest=Decimal("0"),
            fees=Decimal("0"),
        )
        accounts[name] = account
        points[name] = await add_phone(session, account, phone, zone)
    accounts["beto"] = await make_account(
        session, partner, assigned_collector_id=beto.id, assigned_team_id=other_team.id, dpd=45
    )
    points["beto"] = await add_phone(
        session, accounts["beto"], "+525598765432", "America/Mexico_City"
    )
    await session.commit()
    return {
        "clock": clock,
        "accounts": accounts,
        "points": points,
        "users": {"ana": ana, "beto": beto, "lead": lead, "spare": spare},
        "team": team,
        "other_team": other_team,
        "ana": auth_headers(ana),
        "beto": auth_headers(beto),
        "lead": auth_headers(lead),
        "spare": auth_headers(spare),
        "other_lead": auth_headers(other_lead),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "partner": await partner_bearer(session, settings, partner),
        "other_partner": await partner_bearer(session, settings, other_partner),
    }


def callback_call(
    started: datetime, point: ContactPoint, callback: dict | None, **changes: object
) -> dict:
    body: dict[str, object] = {
        "channel": "call",
        "contact_point_id": str(point.id),
        "party": "debtor",
        "result_code": "RPC_CALLBACK",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=4)).isoformat(),
        "pcr": {
            "problem_category": "reduced_income",
            "problem": "Hours cut at the factory",
            "circumstance": "Driving, cannot talk now",
            "resolution": "Call back when home",
        },
    }
    if callback is not None:
        body["callback"] = callback
    body.update(changes)
    return body


async def record(client, floor, name: str, body: dict, who: str = "ana"):
    """Entered live: the server's clock a minute after the contact ended."""
    end = datetime.fromisoformat(str(body.get("ended_at") or body["started_at"]))
    floor["clock"].now = end + timedelta(minutes=1)
    return await client.post(
        f"/api/v1/accounts/{floor['accounts'][name].id}/interactions", json=body, headers=floor[who]
    )


async def agree(client, floor, name: str, local_time: str, **callback: object) -> dict:
    """A RPC_CALLBACK on the account at 18:00 of DAY in Mexico City (the call itself
    within the law everywhere: 16:00 in Tijuana, 19:00 in Cancún); its callback."""
    started = at(CDMX, DAY, 17, 55)
    response = await record(
        client,
        floor,
        name,
        callback_call(started, floor["points"][name], {"local_time": local_time, **callback}),
    )
    assert response.status_code == 201, response.text
    interaction = response.json()
    assert interaction["callback_id"]
    listed = await client.get(CALLBACKS, headers=floor["manager"])
    (found,) = [c for c in listed.json()["items"] if c["id"] == interaction["callback_id"]]
    return found


async def listed(client, floor, who: str, **params: object) -> list[dict]:
    response = await client.get(CALLBACKS, params=params, headers=floor[who])
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestScheduling:
    async def test_a_callback_agreed_at_ten_at_night_waits_for_seven_in_the_morning(
        self, client, floor
    ):
        # MX: collection contact only 07:00-22:00 on the debtor's clock (CONDUSEF).
        found = await agree(client, floor, "cdmx", wall(DAY, 22, 0))
        assert found["time_zone"] == "America/Mexico_City"
        assert found["local_time"] == f"{wall(DAY, 22, 0)}:00"
        assert datetime.fromisoformat(found["agreed_at"]) == at(CDMX, DAY, 22, 0)
        assert datetime.fromisoformat(found["due_at"]) == at(CDMX, NEXT, 7, 0)
        deferred = found["deferred_reasons"]
        assert [(r["code"], r["basis"]) for r in deferred] == [("outside_hours", "law")]
        assert deferred[0]["citation"]
        assert found["status"] == "scheduled"

    async def test_a_callback_within_the_hours_is_due_when_agreed(self, client, floor):
        found = await agree(client, floor, "cdmx", wall(DAY, 21, 30))
        assert found["due_at"] == found["agreed_at"]
        assert found["deferred_reasons"] == []

    async def test_the_same_instant_is_lawful_in_tijuana_and_not_in_cancun(self, client, floor):
        # 21:30 in Tijuana is 00:30 the next day in Cancún (December: UTC-8 and UTC-5).
        tijuana = await agree(client, floor, "tijuana", wall(DAY, 21, 30))
        cancun = await agree(client, floor, "cancun", wall(NEXT, 0, 30))
        assert tijuana["agreed_at"] == cancun["agreed_at"]
        assert datetime.fromisoformat(tijuana["due_at"]) == at(TIJUANA, DAY, 21, 30)
        assert datetime.fromisoformat(cancun["due_at"]) == at(CANCUN, NEXT, 7, 0)
        assert tijuana["time_zone"] == "America/Tijuana"
        assert cancun["time_zone"] == "America/Cancun"

    async def test_rpc_callback_without_its_time_is_refused_with_its_own_code(
        self, client, floor, session
    ):
        body = callback_call(at(CDMX, DAY, 17, 55), floor["points"]["cdmx"], None)
        floor["clock"].now = at(CDMX, DAY, 18, 0)
        response = await client.post(
            f"/api/v1/accounts/{floor['accounts']['cdmx'].id}/interactions",
            json=body,
            headers={**floor["ana"], "Accept-Language": "es-MX"},
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == "callback_required"
        assert problem["errors"][0]["field"] == "body.callback"
        assert "RPC_CALLBACK" in problem["detail"] and "deudor" in problem["detail"]
        assert (await session.scalars(select(Callback))).all() == []

    async def test_a_time_already_past_on_the_debtors_clock_is_refused(self, client, floor):
        # 17:00 in Mexico City has passed at 18:00 there.
        response = await record(
            client,
            floor,
            "cdmx",
            callback_call(
                at(CDMX, DAY, 17, 55), floor["points"]["cdmx"], {"local_time": wall(DAY, 17, 0)}
            ),
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == "callback_in_past"
        assert problem["errors"][0]["field"] == "body.callback.local_time"
        english = await client.post(
            f"/api/v1/accounts/{floor['accounts']['cdmx'].id}/interactions",
            json=callback_call(
                at(CDMX, DAY, 17, 55), floor["points"]["cdmx"], {"local_time": wall(DAY, 17, 0)}
            ),
            headers=floor["ana"],
        )
        assert english.json()["detail"].startswith(f"{wall(DAY, 17, 0)} in America/Mexico_City")

    async def test_too_far_ahead_an_offset_or_another_result_are_refused(self, client, floor):
        point = floor["points"]["cdmx"]
        started = at(CDMX, DAY, 17, 55)
        far = DAY + timedelta(days=45)
        cases = [
            (
                callback_call(started, point, {"local_time": wall(far, 10)}),
                "body.callback.local_time",
            ),
            (
                callback_call(started, point, {"local_time": f"{wall(NEXT, 10)}:00-06:00"}),
                "body.callback.local_time",
            ),
            (
                callback_call(started, point, {"local_time": wall(NEXT, 10)}, result_code="RPC"),
                "body.callback",
            ),
            (
                callback_call(
                    started,
                    point,
                    {"local_time": wall(NEXT, 10), "time_zone": "America/Cancun"},
                ),
                "body.callback.time_zone",
            ),
        ]
        for body, field in cases:
            response = await record(client, floor, "cdmx", body)
            assert_problem(response, 422, ("invalid_input", "validation_failed"))
            assert response.json()["errors"][0]["field"] == field, response.text

    async def test_where_the_debtor_may_be_in_two_zones_the_zone_is_named(
        self, client, floor, session
    ):
        # An inbound call names no number: the debtor's points place them in Mexico City
        # and in Tijuana, so the local time is ambiguous until the zone is named.
        account = floor["accounts"]["cdmx"]
        await add_phone(session, account, "+526649876543", "America/Tijuana")
        await session.commit()
        body = callback_call(
            at(CDMX, DAY, 17, 55),
            floor["points"]["cdmx"],
            {"local_time": wall(DAY, 21, 30)},
            direction="inbound",
        )
        del body["contact_point_id"]
        response = await record(client, floor, "cdmx", body)
        assert_problem(response, 422, "invalid_input")
        assert response.json()["errors"][0]["field"] == "body.callback.time_zone"
        body["callback"] = {"local_time": wall(DAY, 21, 30), "time_zone": "America/Tijuana"}
        response = await record(client, floor, "cdmx", body)
        assert response.status_code == 201, response.text
        (found,) = await listed(client, floor, "manager")
        # 21:30 in Tijuana; a call then must be lawful in every zone the debtor may be in:
        # 23:30 in Mexico City is not, so it waits for 07:00 there.
        assert datetime.fromisoformat(found["agreed_at"]) == at(TIJUANA, DAY, 21, 30)
        assert datetime.fromisoformat(found["due_at"]) == at(CDMX, NEXT, 7, 0)

    async def test_a_newer_callback_replaces_the_open_one(self, client, floor):
        first = await agree(client, floor, "cdmx", wall(NEXT, 10))
        second = await agree(client, floor, "cdmx", wall(NEXT, 12))
        by_id = {c["id"]: c for c in await listed(client, floor, "manager")}
        assert by_id[first["id"]]["status"] == "cancelled"
        assert by_id[first["id"]]["cancel_reason"] == "superseded"
        assert by_id[second["id"]]["status"] == "scheduled"


class TestTheQueue:
    async def test_a_due_callback_heads_the_queue_from_the_lawful_moment(self, client, floor):
        await agree(client, floor, "cdmx", wall(DAY, 22, 0))
        clock = floor["clock"]
        # 22:30: nobody in Mexico City may be called; Cancún is past 22:00 too.
        clock.now = at(CDMX, DAY, 22, 30)
        items = (await client.get(WORKLIST, headers=floor["ana"])).json()["items"]
        assert str(floor["accounts"]["cdmx"].id) not in [i["account_id"] for i in items]
        # 07:00 the next day: the law allows it, and the callback puts it first.
        clock.now = at(CDMX, NEXT, 7, 0)
        items = (await client.get(WORKLIST, headers=floor["ana"])).json()["items"]
        assert items[0]["account_id"] == str(floor["accounts"]["cdmx"].id)
        assert items[0]["reasons"][0]["code"] == "callback_due"

    async def test_the_callback_lifts_a_small_account_above_bigger_ones(self, client, floor):
        # 14:00 in Cancún is 13:00 in Mexico City and 11:00 in Tijuana: every debtor callable.
        await agree(client, floor, "cancun", wall(NEXT, 14, 0))
        clock = floor["clock"]
        clock.now = at(CDMX, NEXT, 12, 30)
        before = (await client.get(WORKLIST, headers=floor["ana"])).json()["items"]
        order = [i["account_id"] for i in before]
        assert order[-1] == str(floor["accounts"]["cancun"].id), before
        clock.now = at(CDMX, NEXT, 13, 0)
        after = (await client.get(WORKLIST, headers=floor["ana"])).json()["items"]
        assert after[0]["account_id"] == str(floor["accounts"]["cancun"].id)
        assert [i["account_id"] for i in after[1:]] == order[:-1]
        claimed = await client.post(f"{WORKLIST}/next", headers=floor["ana"])
        assert claimed.json()["account_id"] == str(floor["accounts"]["cancun"].id)


class TestDoneAndMissed:
    async def test_missed_after_the_grace_then_done_by_the_next_call(self, client, floor):
        found = await agree(client, floor, "cdmx", wall(NEXT, 10, 0))
        clock = floor["clock"]
        clock.now = at(CDMX, NEXT, 10, 20)
        assert [c["id"] for c in await listed(client, floor, "lead", status="due")] == [found["id"]]
        assert await listed(client, floor, "lead", status="missed") == []
        clock.now = at(CDMX, NEXT, 10, 31)
        missed = await listed(client, floor, "lead", status="missed")
        assert [c["id"] for c in missed] == [found["id"]]
        assert await listed(client, floor, "lead", status="due") == []
        # Anyone's interaction on the account once it was due does it: here the lead's.
        started = at(CDMX, NEXT, 10, 40)
        body = {
            "channel": "call",
            "contact_point_id": str(floor["points"]["cdmx"].id),
            "party": "none",
            "result_code": "NO_ANSWER",
            "started_at": started.isoformat(),
            "ended_at": (started + timedelta(minutes=1)).isoformat(),
        }
        response = await record(client, floor, "cdmx", body, who="lead")
        assert response.status_code == 201, response.text
        assert await listed(client, floor, "lead", status="missed") == []
        (done,) = await listed(client, floor, "lead", status="done")
        assert done["id"] == found["id"]
        assert done["done_interaction_id"] == response.json()["id"]
        # No longer at the head of the queue.
        clock.now = at(CDMX, NEXT, 11, 0)
        items = (await client.get(WORKLIST, headers=floor["ana"])).json()["items"]
        assert all(r["code"] != "callback_due" for i in items for r in i["reasons"])

    async def test_an_interaction_before_it_is_due_does_not_do_it(self, client, floor):
        found = await agree(client, floor, "cdmx", wall(NEXT, 10, 0))
        started = at(CDMX, NEXT, 9, 0)
        body = {
            "channel": "call",
            "contact_point_id": str(floor["points"]["cdmx"].id),
            "party": "none",
            "result_code": "BUSY",
            "started_at": started.isoformat(),
            "ended_at": (started + timedelta(minutes=1)).isoformat(),
        }
        assert (await record(client, floor, "cdmx", body)).status_code == 201
        floor["clock"].now = at(CDMX, NEXT, 10, 5)
        assert [c["id"] for c in await listed(client, floor, "ana", status="due")] == [found["id"]]

    async def test_reassigning_the_account_cancels_its_callback(self, client, floor):
        found = await agree(client, floor, "cdmx", wall(NEXT, 10, 0))
        account = floor["accounts"]["cdmx"]
        read = await client.get(f"/api/v1/accounts/{account.id}", headers=floor["lead"])
        response = await client.patch(
            f"/api/v1/accounts/{account.id}",
            json={"assigned_collector_id": str(floor["users"]["spare"].id)},
            headers={**floor["lead"], "If-Match": read.headers["ETag"]},
        )
        assert response.status_code == 200, response.text
        floor["clock"].now = at(CDMX, NEXT, 11, 0)
        assert await listed(client, floor, "lead", status="missed") == []
        (cancelled,) = await listed(client, floor, "lead", status="cancelled")
        assert (cancelled["id"], cancelled["cancel_reason"]) == (found["id"], "reassigned")
        # Neither the old collector's queue nor the new one's is headed by it.
        for who in ("ana", "spare"):
            items = (await client.get(WORKLIST, headers=floor[who])).json()["items"]
            assert all(r["code"] != "callback_due" for i in items for r in i["reasons"])

    async def test_a_recall_cancels_it_in_the_partners_set_based_statement(self, client, floor):
        found = await agree(client, floor, "cdmx", wall(NEXT, 10, 0))
        account = floor["accounts"]["cdmx"]
        response = await client.post(
            f"/api/v1/partners/{account.partner_id}/recalls",
            json={"external_refs": [account.external_ref], "reason": "paid at the branch"},
            headers=floor["partner"],
        )
        assert response.status_code == 200, response.text
        assert response.json()["recalled"] == 1
        floor["clock"].now = at(CDMX, NEXT, 11, 0)
        (cancelled,) = await listed(client, floor, "manager", status="cancelled")
        assert (cancelled["id"], cancelled["cancel_reason"]) == (found["id"], "account_inactive")
        assert await listed(client, floor, "manager", status="missed") == []


class TestWhoSeesWhich:
    async def test_visibility_follows_the_accounts(self, client, floor):
        mine = await agree(client, floor, "cdmx", wall(NEXT, 10, 0))
        started = at(CDMX, DAY, 17, 55)
        floor["clock"].now = started + timedelta(minutes=5)
        response = await client.post(
            f"/api/v1/accounts/{floor['accounts']['beto'].id}/interactions",
            json=callback_call(started, floor["points"]["beto"], {"local_time": wall(NEXT, 11)}),
            headers=floor["beto"],
        )
        assert response.status_code == 201, response.text
        betos = response.json()["callback_id"]
        ids = {who: {c["id"] for c in await listed(client, floor, who)} for who in (
            "ana", "beto", "lead", "other_lead", "manager", "partner", "other_partner"
        )}  # fmt: skip
        assert ids["ana"] == {mine["id"]}
        assert ids["beto"] == {betos}
        assert ids["lead"] == {mine["id"]}
        assert ids["other_lead"] == {betos}
        assert ids["manager"] == {mine["id"], betos}
        assert ids["partner"] == {mine["id"], betos}
        assert ids["other_partner"] == set()
        # Filters narrow within what the caller sees, never widen it.
        by_collector = await listed(
            client, floor, "manager", collector_id=floor["users"]["beto"].id
        )
        assert [c["id"] for c in by_collector] == [betos]
        by_team = await listed(client, floor, "manager", team_id=floor["team"].id)
        assert [c["id"] for c in by_team] == [mine["id"]]
        assert await listed(client, floor, "lead", team_id=floor["other_team"].id) == []

    async def test_anonymous_callers_are_refused(self, client):
        assert (await client.get(CALLBACKS)).status_code == 401


class TestPaging:
    async def test_pages_walk_every_callback_once_in_a_constant_number_of_statements(
        self, client, floor, session, connection
    ):
        accounts = floor["accounts"]
        for n in range(6):
            account = await make_account(
                session,
                await make_partner(session),
                assigned_collector_id=floor["users"]["ana"].id,
                dpd=45,
            )
            accounts[f"extra{n}"] = account
            floor["points"][f"extra{n}"] = await add_phone(
                session, account, f"+5255123456{n:02d}", "America/Mexico_City"
            )
        await session.commit()
        for n in range(6):
            await agree(client, floor, f"extra{n}", wall(NEXT, 9 + n))
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                statements.append(statement)

        async def statements_for(limit: int) -> tuple[int, list[str]]:
            statements.clear()
            seen: list[str] = []
            cursor = None
            response = await client.get(
                CALLBACKS, params={"limit": limit}, headers=floor["manager"]
            )
            first = len(statements)
            while True:
                body = response.json()
                seen += [c["id"] for c in body["items"]]
                cursor = body["next_cursor"]
                if cursor is None:
                    return first, seen
                response = await client.get(
                    CALLBACKS, params={"limit": limit, "cursor": cursor}, headers=floor["manager"]
                )

        sync_connection = connection.sync_connection
        event.listen(sync_connection, "before_cursor_execute", count)
        try:
            small, small_seen = await statements_for(2)
            large, large_seen = await statements_for(6)
        finally:
            event.remove(sync_connection, "before_cursor_execute", count)
        assert small == large, statements
        assert len(small_seen) == len(set(small_seen)) == 6
        assert small_seen == large_seen
        due = [
            (await session.get(Callback, uuid.UUID(i))).due_at  # type: ignore[union-attr]
            for i in large_seen
        ]
        assert due == sorted(due, reverse=True)
