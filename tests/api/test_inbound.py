"""Inbound calls: who is calling (within what the caller works; the inbound desk sees the
rest masked), every look-up audited, unknown numbers kept for the lead, and an inbound call
recorded without the hours that bind the agency's own calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select, text

from app.domain.roles import Role, Skill
from app.models.audit import AuditEvent
from app.models.compliance_incident import ComplianceIncident
from app.models.debtor import ContactPoint, RelatedParty
from tests.factories import (
    assert_problem,
    make_account,
    make_debtor,
    make_partner,
    make_team,
    partner_bearer,
)

CDMX = ZoneInfo("America/Mexico_City")
LOOKUP = "/api/v1/inbound/lookup"
UNIDENTIFIED = "/api/v1/inbound/unidentified"
NUMBER = "+525512345678"


async def add_phone(session, account, value: str = NUMBER, related_party_id=None) -> ContactPoint:
    point = ContactPoint(
        partner_id=account.partner_id,
        account_id=account.id,
        debtor_id=account.debtor_id,
        related_party_id=related_party_id,
        kind="phone",
        value=value,
        time_zone="America/Mexico_City",
    )
    session.add(point)
    await session.flush()
    return point


@pytest.fixture
async def calls(session, make_user, auth_headers, clock, settings):
    """One number, several accounts: ana's (partner A), beto's (partner B, another team,
    another debtor sharing the number), a recalled one of ana's, and one where the number
    is a reference's. A desk collector with the inbound skill; leads, a manager, an auditor,
    partner A's system."""
    clock.now = datetime.now(UTC)
    partner_a = await make_partner(session)
    partner_b = await make_partner(session, legal_name="Banco Beta")
    lead = await make_user(Role.TEAM_LEAD)
    ana = await make_user(Role.COLLECTOR)
    desk = await make_user(Role.COLLECTOR, skills=[Skill.INBOUND])
    team = await make_team(session, lead, [ana, desk])
    other_lead = await make_user(Role.TEAM_LEAD)
    beto = await make_user(Role.COLLECTOR)
    await make_team(session, other_lead, [beto])
    debtor = await make_debtor(session)
    mine = await make_account(
        session, partner_a, debtor, assigned_collector_id=ana.id, assigned_team_id=team.id, dpd=45
    )
    await add_phone(session, mine)
    betos = await make_account(
        session,
        partner_b,
        await make_debtor(session, first_names="José", last_names="Pérez Núñez"),
        assigned_collector_id=beto.id,
        dpd=100,
    )
    betos_point = await add_phone(session, betos)
    recalled = await make_account(
        session, partner_a, debtor, assigned_collector_id=ana.id, status="recalled", dpd=45
    )
    await add_phone(session, recalled)
    referenced = await make_account(session, partner_a, assigned_collector_id=ana.id, dpd=45)
    reference = RelatedParty(
        partner_id=partner_a.id, account_id=referenced.id, kind="reference", full_name="Ana P."
    )
    session.add(reference)
    await session.flush()
    await add_phone(session, referenced, related_party_id=reference.id)
    await session.commit()
    return {
        "clock": clock,
        "accounts": {"mine": mine, "betos": betos, "recalled": recalled, "ref": referenced},
        "betos_point": betos_point,
        "users": {"ana": ana, "desk": desk, "beto": beto, "lead": lead},
        "ana": auth_headers(ana),
        "desk": auth_headers(desk),
        "beto": auth_headers(beto),
        "lead": auth_headers(lead),
        "other_lead": auth_headers(other_lead),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "admin": auth_headers(await make_user(Role.ADMIN)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
        "partner": await partner_bearer(session, settings, partner_a),
    }


async def look_up(client, calls, who: str, phone: str = NUMBER, **params: str) -> dict:
    response = await client.get(LOOKUP, params={"phone": phone, **params}, headers=calls[who])
    assert response.status_code == 200, response.text
    return response.json()


def ids(answer: dict) -> list[str]:
    return [m["account_id"] for m in answer["items"]]


class TestLookup:
    async def test_a_collector_finds_their_own_account_in_any_mexican_form(self, client, calls):
        mine = str(calls["accounts"]["mine"].id)
        for written in (NUMBER, "55 1234 5678", "+52 1 55 1234 5678", "044 55 1234 5678"):
            answer = await look_up(client, calls, "ana", written)
            assert ids(answer) == [mine], written
        (match,) = answer["items"]
        assert match["seen_as"] == "worker"
        assert match["assigned_to_me"] is True
        assert match["debtor_name"] == "María Fernanda López García"
        assert match["phone_masked"] == "****5678"
        assert match["stage"] == "mid" and match["balance"] == "1150.00"
        assert answer["phone_masked"] == "****5678"
        assert answer["record_unidentified"] is None

    async def test_each_caller_sees_the_accounts_they_work(self, client, calls):
        mine, betos = str(calls["accounts"]["mine"].id), str(calls["accounts"]["betos"].id)
        assert ids(await look_up(client, calls, "ana")) == [mine]
        assert ids(await look_up(client, calls, "beto")) == [betos]
        assert ids(await look_up(client, calls, "lead")) == [mine]
        assert ids(await look_up(client, calls, "other_lead")) == [betos]
        everyone = await look_up(client, calls, "manager")
        assert sorted(ids(everyone)) == sorted([mine, betos])
        assert {m["seen_as"] for m in everyone["items"]} == {"worker"}
        # A recalled account is no longer worked; a reference's number is not the debtor's.
        assert str(calls["accounts"]["recalled"].id) not in ids(everyone)
        assert str(calls["accounts"]["ref"].id) not in ids(everyone)

    async def test_the_inbound_desk_sees_every_match_masked(self, client, calls):
        answer = await look_up(client, calls, "desk")
        by_id = {m["account_id"]: m for m in answer["items"]}
        assert set(by_id) == {str(calls["accounts"]["mine"].id), str(calls["accounts"]["betos"].id)}
        betos = by_id[str(calls["accounts"]["betos"].id)]
        assert betos["seen_as"] == "inbound_desk"
        assert betos["debtor_name"] == "José P. N."
        assert betos["partner_name"] == "Banco Beta"
        assert betos["assigned_collector_id"] == str(calls["users"]["beto"].id)
        assert betos["phone_masked"] == "****5678"

    @pytest.mark.parametrize("who", ["auditor", "partner"])
    async def test_auditors_and_partner_systems_take_no_calls(self, client, calls, who):
        response = await client.get(LOOKUP, params={"phone": NUMBER}, headers=calls[who])
        assert_problem(response, 403, "permission_denied")

    async def test_every_look_up_is_audited_even_an_empty_one(self, client, calls, session):
        await look_up(client, calls, "ana")
        empty = await look_up(client, calls, "ana", "+525500000000")
        assert empty["items"] == [] and empty["record_unidentified"] == UNIDENTIFIED
        refused = await client.get(LOOKUP, params={"phone": "12345678"}, headers=calls["ana"])
        assert_problem(refused, 422, "invalid_input")
        assert refused.json()["errors"][0]["field"] == "query.phone"
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(["inbound.lookup", "inbound.lookup_refused"]))
                .order_by(AuditEvent.seq)
            )
        ).all()
        assert [(e.action, (e.after or {}).get("results")) for e in events] == [
            ("inbound.lookup", 1),
            ("inbound.lookup", 0),
            ("inbound.lookup_refused", None),
        ]
        assert events[0].after["account_ids"] == [str(calls["accounts"]["mine"].id)]
        assert events[0].actor_id.endswith(str(calls["users"]["ana"].id))
        # Never the number itself.
        for e in events:
            assert "5512345678" not in str(e.after) and "5500000000" not in str(e.after)


def inbound_rpc(started: datetime, **changes: object) -> dict:
    body: dict[str, object] = {
        "channel": "call",
        "direction": "inbound",
        "party": "debtor",
        "result_code": "RPC",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=6)).isoformat(),
        "pcr": {
            "problem_category": "forgot",
            "problem": "Did not know the due date",
            "circumstance": "Changed jobs",
            "resolution": "Will pay on Friday at the branch",
        },
    }
    body.update(changes)
    return body


class TestAnsweringTheCall:
    async def test_the_desk_records_the_call_on_what_its_look_up_showed(self, client, calls):
        betos = calls["accounts"]["betos"]
        url = f"/api/v1/accounts/{betos.id}/interactions"
        started = calls["clock"].now - timedelta(minutes=10)
        # Before a look-up the account is not the desk's.
        response = await client.post(url, json=inbound_rpc(started), headers=calls["desk"])
        assert_problem(response, 404, "not_found")
        await look_up(client, calls, "desk")
        recorded = await client.post(
            url,
            json=inbound_rpc(started, contact_point_id=str(calls["betos_point"].id)),
            headers=calls["desk"],
        )
        assert recorded.status_code == 201, recorded.text
        assert recorded.json()["direction"] == "inbound"
        # Only the inbound call: the desk places no call on it and reads nothing else of it.
        outbound = inbound_rpc(
            calls["clock"].now - timedelta(minutes=3),
            direction="outbound",
            contact_point_id=str(calls["betos_point"].id),
        )
        assert (await client.post(url, json=outbound, headers=calls["desk"])).status_code == 404
        detail = await client.get(f"/api/v1/accounts/{betos.id}", headers=calls["desk"])
        assert_problem(detail, 404, "not_found")
        # Two hours on, the look-up no longer holds.
        calls["clock"].now += timedelta(hours=2, minutes=1)
        later = inbound_rpc(calls["clock"].now - timedelta(minutes=10))
        assert (await client.post(url, json=later, headers=calls["desk"])).status_code == 404

    async def test_a_collector_without_the_desk_skill_gets_no_such_hold(self, client, calls):
        await look_up(client, calls, "ana")
        betos = calls["accounts"]["betos"]
        response = await client.post(
            f"/api/v1/accounts/{betos.id}/interactions",
            json=inbound_rpc(calls["clock"].now - timedelta(minutes=10)),
            headers=calls["ana"],
        )
        assert_problem(response, 404, "not_found")

    async def test_an_inbound_call_at_eleven_at_night_is_recorded_without_a_breach(
        self, client, calls, session
    ):
        # MX law bars collection calls the agency makes outside 07:00-22:00 on the debtor's
        # clock; a debtor calling in at 23:00 is no such call. The law is unchanged: a call
        # out at that hour is still refused by the contact check.
        yesterday = datetime.now(CDMX).date() - timedelta(days=1)
        night = datetime(
            yesterday.year, yesterday.month, yesterday.day, 23, 0, tzinfo=CDMX
        ).astimezone(UTC)
        calls["clock"].now = night + timedelta(minutes=10)
        mine = calls["accounts"]["mine"]
        response = await client.post(
            f"/api/v1/accounts/{mine.id}/interactions",
            json=inbound_rpc(night),
            headers=calls["ana"],
        )
        assert response.status_code == 201, response.text
        verdict = response.json()["compliance"]
        assert verdict["allowed"] is True and verdict["inbound"] is True
        assert await session.scalar(select(func.count()).select_from(ComplianceIncident)) == 0
        check = await client.post(
            f"/api/v1/accounts/{mine.id}/contact-check",
            json={"channel": "call", "party": "debtor", "at": night.isoformat()},
            headers=calls["ana"],
        )
        assert check.json()["allowed"] is False
        assert "outside_hours" in {r["code"] for r in check.json()["reasons"]}


class TestUnidentified:
    async def test_kept_audited_and_listed_to_the_lead(self, client, calls, session):
        started = calls["clock"].now - timedelta(minutes=5)
        body = {
            "phone": "+52 33 3615 0000",
            "started_at": started.isoformat(),
            "notes": "Asked for a Sr. Ruiz",
        }
        kept = await client.post(UNIDENTIFIED, json=body, headers=calls["desk"])
        assert kept.status_code == 201, kept.text
        call = kept.json()
        assert call["phone_masked"] == "****0000"
        assert call["received_by"] == str(calls["users"]["desk"].id)
        # Sealed at rest like every contact value.
        raw = await session.scalar(
            text("SELECT phone FROM unidentified_call WHERE id = :id"), {"id": call["id"]}
        )
        assert b"3336150000" not in bytes(raw)
        withheld = await client.post(
            UNIDENTIFIED,
            json={"phone": None, "started_at": started.isoformat()},
            headers=calls["ana"],
        )
        assert withheld.status_code == 201, withheld.text
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "inbound.unidentified_recorded")
        )
        assert audited == 2

        def listed(who: str) -> object:
            return client.get(UNIDENTIFIED, headers=calls[who])

        lead = (await listed("lead")).json()["items"]
        assert {c["id"] for c in lead} == {call["id"], withheld.json()["id"]}
        assert (await listed("other_lead")).json()["items"] == []
        manager = (await listed("manager")).json()["items"]
        assert {c["id"] for c in manager} >= {call["id"]}
        assert (await listed("ana")).status_code == 403
        assert (await listed("partner")).status_code == 403

    async def test_bad_numbers_and_times_are_refused(self, client, calls):
        now = calls["clock"].now
        for body, field in (
            ({"phone": "123", "started_at": now.isoformat()}, "body.phone"),
            (
                {"phone": NUMBER, "started_at": (now + timedelta(hours=1)).isoformat()},
                "body.started_at",
            ),
            (
                {"phone": NUMBER, "started_at": (now - timedelta(days=40)).isoformat()},
                "body.started_at",
            ),
        ):
            response = await client.post(UNIDENTIFIED, json=body, headers=calls["ana"])
            assert_problem(response, 422, "invalid_input")
            assert response.json()["errors"][0]["field"] == field

    async def test_pages_take_a_constant_number_of_statements(self, client, calls, connection):
        now = calls["clock"].now
        for n in range(6):
            response = await client.post(
                UNIDENTIFIED,
                json={
                    "phone": f"+52551234{n:04d}",
                    "started_at": (now - timedelta(minutes=n)).isoformat(),
                },
                headers=calls["ana"],
            )
            assert response.status_code == 201
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                statements.append(statement)

        async def walk(limit: int) -> tuple[int, list[str]]:
            statements.clear()
            response = await client.get(
                UNIDENTIFIED, params={"limit": limit}, headers=calls["lead"]
            )
            first = len(statements)
            seen = [c["id"] for c in response.json()["items"]]
            while response.json()["next_cursor"]:
                response = await client.get(
                    UNIDENTIFIED,
                    params={"limit": limit, "cursor": response.json()["next_cursor"]},
                    headers=calls["lead"],
                )
                seen += [c["id"] for c in response.json()["items"]]
            return first, seen

        sync_connection = connection.sync_connection
        event.listen(sync_connection, "before_cursor_execute", count)
        try:
            small, small_seen = await walk(2)
            large, large_seen = await walk(6)
        finally:
            event.remove(sync_connection, "before_cursor_execute", count)
        assert small == large, statements
        assert small_seen == large_seen and len(set(small_seen)) == 6


async def test_the_inbound_desk_is_a_skill_staff_are_given_not_an_allocation_target(client, calls):
    created = await client.post(
        "/api/v1/users",
        json={
            "username": "mesa.entrada",
            "full_name": "Mesa de Entrada",
            "role": "collector",
            "skills": ["inbound", "phone"],
            "password": "una-clave-larga-123",
        },
        headers=calls["admin"],
    )
    assert created.status_code == 201, created.text
    assert sorted(created.json()["skills"]) == ["inbound", "phone"]
    rule = await client.post(
        "/api/v1/allocation/rules",
        json={
            "name": "Desk",
            "priority": 10,
            "stages": ["late"],
            "skill": "inbound",
            "capacity": 10,
            "collector_id": str(calls["users"]["desk"].id),
        },
        headers=calls["manager"],
    )
    assert_problem(rule, 422, "validation_failed")
    assert rule.json()["errors"][0]["field"] == "body.skill"
