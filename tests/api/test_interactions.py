"""A collector's day through the API: may I call now, record the gestión with its PCR, what
its result sets, the promise it carries and what happens when promises break."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.domain.roles import Role
from app.models.audit import AuditEvent
from app.models.debtor import ContactPoint, DebtorFlag
from app.models.escalation import Escalation
from app.models.interaction import Interaction
from app.models.promise import Promise
from app.services import promises
from tests.factories import assert_problem, make_account, make_partner
from tests.helpers.interactions import (
    CDMX,
    check,
    local,
    recent_weekday_noon,
    record,
    rpc,
)


@pytest.fixture
def floor(interactions_floor):
    """The interactions floor: a Mexican partner, a collector and an account in `mid`."""
    return interactions_floor


class TestContactCheck:
    async def test_within_hours_a_call_is_allowed(self, client, floor):
        decision = await check(client, floor, "cdmx", local(CDMX, 2026, 11, 17, 21, 59))
        assert decision["allowed"] is True, decision
        assert decision["reasons"] == []
        assert decision["time_zone"] == "America/Mexico_City"

    async def test_at_ten_at_night_it_is_not_and_says_when_it_is(self, client, floor):
        decision = await check(client, floor, "cdmx", local(CDMX, 2026, 11, 17, 22, 0))
        assert decision["allowed"] is False
        assert decision["reasons"]
        opens = datetime.fromisoformat(decision["next_allowed_at"]).astimezone(CDMX)
        assert (opens.date(), opens.hour, opens.minute) == (date(2026, 11, 18), 7, 0)
        again = await check(client, floor, "cdmx", opens)
        assert again["allowed"] is True

    async def test_a_spanish_reader_gets_the_reason_and_the_script_in_spanish(self, client, floor):
        at = local(CDMX, 2026, 11, 17, 22, 0)  # a Tuesday
        decision = await check(client, floor, "cdmx", at, language="es-MX")
        [reason] = decision["reasons"]
        assert reason["code"] == "outside_hours"
        assert reason["message"] == "En MX solo se contacta de 07:00–22:00, hora local, los martes."
        assert "CONDUSEF" in reason["citation"]  # a statute is quoted, never translated
        assert decision["script"].startswith("Identifíquese, identifique al despacho")
        english = await check(client, floor, "cdmx", at)
        assert english["reasons"][0]["message"] == (
            "Contact in MX only 07:00–22:00 local time on Tuesdays."
        )

    async def test_a_brazilian_reader_gets_the_reference_script_in_portuguese(self, client, floor):
        at = local(CDMX, 2026, 11, 17, 12, 0)
        decision = await check(client, floor, "reference", at, language="pt-BR")
        assert decision["script"].startswith("Identifique-se pelo nome e pergunte apenas")

    async def test_the_same_instant_differs_between_tijuana_and_cancun(self, client, floor):
        # 07:30 in Tijuana is 09:30 in Mexico City and 10:30 in Cancún in November; 21:30 in
        # Tijuana is 00:30 the next day in Cancún.
        instant = local(ZoneInfo("America/Tijuana"), 2026, 11, 17, 21, 30)
        assert (await check(client, floor, "tijuana", instant))["allowed"] is True
        assert (await check(client, floor, "cancun", instant))["allowed"] is False

    async def test_references_are_only_asked_where_the_debtor_is(self, client, floor):
        decision = await check(client, floor, "reference", local(CDMX, 2026, 11, 17, 12, 0))
        assert decision["allowed"] is True
        assert "whereabouts" in decision["script"].lower()

    async def test_a_recalled_account_may_not_be_contacted(self, client, floor, session):
        floor["account"].status = "recalled"
        session.add(floor["account"])
        await session.flush()
        decision = await check(client, floor, "cdmx", local(CDMX, 2026, 11, 17, 12, 0))
        assert decision["allowed"] is False
        assert decision["next_allowed_at"] is None
        assert any(r["hard"] for r in decision["reasons"])

    async def test_a_collector_cannot_check_an_account_not_theirs(self, client, floor):
        response = await client.post(
            f"/api/v1/accounts/{floor['account'].id}/contact-check",
            json={"channel": "call", "party": "debtor"},
            headers=floor["other_collector"],
        )
        assert_problem(response, 404, "not_found")

    async def test_a_contact_point_of_another_account_is_refused(self, client, floor, session):
        other = await make_account(session, await make_partner(session))
        stray = ContactPoint(
            partner_id=other.partner_id,
            account_id=other.id,
            debtor_id=other.debtor_id,
            kind="phone",
            value="+525598765432",
        )
        session.add(stray)
        await session.flush()
        response = await client.post(
            f"/api/v1/accounts/{floor['account'].id}/contact-check",
            json={"channel": "call", "contact_point_id": str(stray.id)},
            headers=floor["collector"],
        )
        assert_problem(response, 422, "invalid_input")


class TestRecording:
    async def test_a_right_party_contact_is_stored_with_its_pcr_and_audited(
        self, client, floor, session
    ):
        at = recent_weekday_noon()
        response = await record(client, floor, rpc(at, floor["points"]["cdmx"].id))
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["pcr"]["problem_category"] == "reduced_income"
        assert body["compliance"]["allowed"] is True
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "interaction.recorded", AuditEvent.entity_id == body["id"])
        )
        assert audited == 1
        listed = await client.get(
            f"/api/v1/accounts/{floor['account'].id}/interactions", headers=floor["collector"]
        )
        assert [i["id"] for i in listed.json()["items"]] == [body["id"]]

    async def test_a_right_party_contact_without_pcr_is_refused(self, client, floor, session):
        body = rpc(recent_weekday_noon(), floor["points"]["cdmx"].id, pcr=None)
        response = await record(client, floor, body)
        assert_problem(response, 422, "invalid_input")
        assert response.json()["errors"][0]["field"].startswith("body.pcr")
        assert await session.scalar(select(func.count()).select_from(Interaction)) == 0

    async def test_a_call_outside_the_legal_hours_is_stored_with_its_breach(
        self, client, floor, session
    ):
        # It happened: it is recorded, truthfully, and the law it broke opens an incident
        # (MX: contact only 07:00–22:00 in the debtor's zone, CONDUSEF despachos rules).
        noon = recent_weekday_noon().astimezone(CDMX)
        night = local(CDMX, noon.year, noon.month, noon.day, 22, 30)
        response = await record(client, floor, rpc(night, floor["points"]["cdmx"].id))
        assert response.status_code == 201, response.text
        verdict = response.json()["compliance"]
        assert verdict["allowed"] is False
        assert "outside_hours" in {r["code"] for r in verdict["reasons"] if r["basis"] == "law"}
        assert verdict["incident_id"]
        assert await session.scalar(select(func.count()).select_from(Interaction)) == 1
        # The stored verdict is read in each reader's language.
        url = f"/api/v1/interactions/{response.json()['id']}"
        spanish = await client.get(url, headers=floor["lead"] | {"Accept-Language": "es"})
        [hours] = [
            r for r in spanish.json()["compliance"]["reasons"] if r["code"] == "outside_hours"
        ]
        assert hours["message"].startswith("En MX solo se contacta de 07:00–22:00, hora local,")
        assert "text" not in hours
        incidents = await client.get(
            "/api/v1/compliance/incidents", headers=floor["manager"] | {"Accept-Language": "pt-BR"}
        )
        [incident] = incidents.json()["items"]
        assert incident["reasons"][0]["message"].startswith("Em MX, contato só das 07:00–22:00")

    async def test_a_cease_request_stops_every_later_contact(self, client, floor, session):
        at = recent_weekday_noon()
        response = await record(
            client, floor, rpc(at, floor["points"]["cdmx"].id, result_code="CEASE_REQUEST")
        )
        assert response.status_code == 201, response.text
        flags = await session.scalars(
            select(DebtorFlag.kind).where(DebtorFlag.debtor_id == floor["account"].debtor_id)
        )
        assert list(flags) == ["cease_contact"]
        later = await check(client, floor, "cdmx", at + timedelta(hours=2))
        assert later["allowed"] is False
        assert later["next_allowed_at"] is None
        again = await record(
            client, floor, rpc(at + timedelta(hours=2), floor["points"]["cdmx"].id)
        )
        # Made anyway, it is recorded with the breach; the check had refused it.
        assert again.status_code == 201, again.text
        reasons = again.json()["compliance"]["reasons"]
        assert again.json()["compliance"]["allowed"] is False
        assert {"cease_contact"} <= {r["code"] for r in reasons if r["hard"]}

    async def test_wrong_numbers_retire_the_number(self, client, floor, session):
        at = recent_weekday_noon()
        point = floor["points"]["tijuana"]
        for minutes in (0, 30):
            response = await record(
                client,
                floor,
                {
                    "channel": "call",
                    "contact_point_id": str(point.id),
                    "party": "none",
                    "result_code": "WRONG_NUMBER",
                    "started_at": (at + timedelta(minutes=minutes)).isoformat(),
                },
            )
            assert response.status_code == 201, response.text
        await session.refresh(point)
        assert (point.failed_attempts, point.is_valid) == (2, False)

    async def test_an_amendment_points_at_the_original_which_stays(self, client, floor):
        at = recent_weekday_noon()
        first = (await record(client, floor, rpc(at, floor["points"]["cdmx"].id))).json()
        fix = rpc(at, floor["points"]["cdmx"].id, notes="Corrected amount", amends_id=first["id"])
        second = await record(client, floor, fix)
        assert second.status_code == 201, second.text
        assert second.json()["amends_id"] == first["id"]
        original = await client.get(f"/api/v1/interactions/{first['id']}", headers=floor["lead"])
        assert original.json()["notes"] is None
        # A call has no position to check.
        assert (original.json()["position_mismatch"], original.json()["position_distance_m"]) == (
            None,
            None,
        )

    async def test_auditors_and_partners_do_not_record(
        self, client, floor, make_user, auth_headers
    ):
        auditor = auth_headers(await make_user(Role.AUDITOR))
        response = await client.post(
            f"/api/v1/accounts/{floor['account'].id}/interactions",
            json=rpc(recent_weekday_noon(), floor["points"]["cdmx"].id),
            headers=auditor,
        )
        assert_problem(response, 403, "permission_denied")


class TestPromises:
    async def test_a_promise_is_taken_and_broken_promises_escalate(self, client, floor, session):
        at = recent_weekday_noon()
        due = at.astimezone(CDMX).date() + timedelta(days=2)
        ids = []
        for hours in (0, 1):
            response = await record(
                client,
                floor,
                rpc(
                    at + timedelta(hours=hours),
                    floor["points"]["cdmx"].id,
                    result_code="RPC_PTP",
                    promise={"amount": "1500.00", "due_date": due.isoformat()},
                ),
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["promise_id"])
        listed = await client.get(
            f"/api/v1/accounts/{floor['account'].id}/promises", headers=floor["collector"]
        )
        assert {p["status"] for p in listed.json()} == {"pending"}
        assert {p["id"] for p in listed.json()} == set(ids)

        grace = listed.json()[0]["grace_days"]
        result = await promises.follow_up(session, due + timedelta(days=grace + 1))
        assert result.broken == 2
        statuses = set(await session.scalars(select(Promise.status)))
        assert statuses == {"broken"}
        escalations = list(
            await session.scalars(
                select(Escalation).where(Escalation.account_id == floor["account"].id)
            )
        )
        assert [e.trigger for e in escalations] == ["broken_promises"]
        # Idempotent: a second run for the same date changes nothing.
        again = await promises.follow_up(session, due + timedelta(days=grace + 1))
        assert (again.broken, again.escalated) == (0, 0)


class TestFeedbackAndEscalations:
    async def test_the_lead_coaches_and_the_collector_reads_it(self, client, floor):
        interaction = (
            await record(client, floor, rpc(recent_weekday_noon(), floor["points"]["cdmx"].id))
        ).json()
        url = f"/api/v1/interactions/{interaction['id']}/feedback"
        created = await client.post(
            url, json={"note": "Ask for a smaller first payment"}, headers=floor["lead"]
        )
        assert created.status_code == 201, created.text
        read = await client.get(url, headers=floor["collector"])
        assert [f["note"] for f in read.json()] == ["Ask for a smaller first payment"]
        assert (await client.get(url, headers=floor["other_collector"])).status_code == 404
        refused = await client.post(url, json={"note": "x"}, headers=floor["collector"])
        assert_problem(refused, 403, "permission_denied")

    async def test_a_collector_escalates_and_the_lead_takes_and_resolves(self, client, floor):
        created = await client.post(
            "/api/v1/escalations",
            json={"account_id": str(floor["account"].id), "reason": "Threatens to sue"},
            headers=floor["collector"],
        )
        assert created.status_code == 201, created.text
        escalation_id = created.json()["id"]
        listed = await client.get("/api/v1/escalations?status=open", headers=floor["lead"])
        assert [e["id"] for e in listed.json()["items"]] == [escalation_id]
        assert (
            await client.post(
                f"/api/v1/escalations/{escalation_id}/take", headers=floor["collector"]
            )
        ).status_code == 403
        taken = await client.post(
            f"/api/v1/escalations/{escalation_id}/take", headers=floor["lead"]
        )
        assert taken.json()["status"] == "taken"
        resolved = await client.post(
            f"/api/v1/escalations/{escalation_id}/resolve",
            json={"outcome": "sent_to_legal", "note": "Contact paused while legal reviews"},
            headers=floor["lead"],
        )
        assert resolved.json()["status"] == "resolved"
        assert resolved.json()["outcome"] == "sent_to_legal"
        twice = await client.post(
            f"/api/v1/escalations/{escalation_id}/resolve",
            json={"outcome": "no_action"},
            headers=floor["lead"],
        )
        assert twice.status_code == 409
        assert twice.json()["code"] == "escalation_resolved"


class TestStrategyAtContactTime:
    async def test_a_strategy_cap_stricter_than_the_law_stops_the_second_call(
        self, client, floor, session
    ):
        from app.domain.strategies import DEFAULT
        from app.services.strategies import document_to_json

        mid = document_to_json(DEFAULT)["stages"]["mid"]
        mid["caps"]["call"] = {"per_day": 1, "per_week": 3}
        stored = await client.put(
            f"/api/v1/partners/{floor['account'].partner_id}/strategy",
            json={"stages": {"mid": mid}},
            headers=floor["manager"],
        )
        assert stored.status_code == 200, stored.text
        at = recent_weekday_noon()
        first = await record(client, floor, rpc(at, floor["points"]["cdmx"].id))
        assert first.status_code == 201, first.text
        assert first.json()["strategy_version"] == stored.json()["version"]
        decision = await check(client, floor, "cdmx", at + timedelta(hours=1))
        assert decision["allowed"] is False
        assert decision["strategy_version"] == stored.json()["version"]
        codes = {r["code"] for r in decision["reasons"]}
        assert codes and all(not r["hard"] for r in decision["reasons"])
        next_at = datetime.fromisoformat(decision["next_allowed_at"]).astimezone(CDMX)
        assert next_at.date() > (at + timedelta(hours=1)).astimezone(CDMX).date()

    async def test_a_refusal_opens_an_escalation_once(self, client, floor, session):
        at = recent_weekday_noon()
        for minutes in (0, 90):
            response = await record(
                client,
                floor,
                rpc(
                    at + timedelta(minutes=minutes),
                    floor["points"]["cdmx"].id,
                    result_code="RPC_REFUSE",
                ),
            )
            assert response.status_code == 201, response.text
        triggers = list(
            await session.scalars(
                select(Escalation.trigger).where(Escalation.account_id == floor["account"].id)
            )
        )
        assert triggers == ["refusal:RPC_REFUSE"]


class TestColombia:
    async def test_only_authorised_channels_on_working_days(
        self, client, session, make_user, auth_headers
    ):
        partner = await make_partner(
            session, country="CO", currency="COP", time_zone="America/Bogota"
        )
        collector = await make_user(Role.COLLECTOR)
        headers = auth_headers(collector)
        account = await make_account(
            session, partner, assigned_collector_id=collector.id, dpd=45, currency="COP"
        )
        point = ContactPoint(
            partner_id=partner.id,
            account_id=account.id,
            debtor_id=account.debtor_id,
            kind="phone",
            value="+573001234567",
            time_zone="America/Bogota",
        )
        session.add(point)
        await session.flush()
        bogota = ZoneInfo("America/Bogota")
        url = f"/api/v1/accounts/{account.id}/contact-check"

        async def allowed(at: datetime) -> dict:
            response = await client.post(
                url,
                json={"channel": "call", "contact_point_id": str(point.id), "at": at.isoformat()},
                headers=headers,
            )
            assert response.status_code == 200, response.text
            return response.json()

        tuesday = local(bogota, 2026, 11, 10, 10, 0)
        before = await allowed(tuesday)
        assert before["allowed"] is False and before["next_allowed_at"] is None
        # Consent is never free-standing: without its evidence it is refused, naming the field.
        consent_url = f"/api/v1/accounts/{account.id}/consents/call"
        bare = await client.put(consent_url, json={"status": "granted"}, headers=headers)
        assert_problem(bare, 422, "invalid_input")
        assert bare.json()["errors"][0]["field"] == "body.interaction_id"
        # The debtor calls in; the collector does not ask why they stopped paying (Ley 2300
        # de 2023 art. 3): the PCR problem is not_asked, only the resolution is noted.
        called = await client.post(
            f"/api/v1/accounts/{account.id}/interactions",
            json={
                "channel": "call",
                "direction": "inbound",
                "contact_point_id": str(point.id),
                "party": "debtor",
                "result_code": "RPC",
                "started_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                "pcr": {"resolution": "Authorises calls; will pay on the 30th"},
            },
            headers=headers,
        )
        assert called.status_code == 201, called.text
        assert called.json()["pcr"]["problem_category"] == "not_asked"
        consent = await client.put(
            consent_url,
            json={"status": "granted", "interaction_id": called.json()["id"]},
            headers=headers,
        )
        assert consent.status_code == 200, consent.text
        assert consent.json()["source"] == "debtor_in_interaction"
        assert consent.json()["evidence_interaction_id"] == called.json()["id"]
        assert consent.json()["given_at"] == called.json()["started_at"]
        assert (await allowed(tuesday))["allowed"] is True
        assert (await allowed(local(bogota, 2026, 11, 15, 10, 0)))["allowed"] is False  # Sunday
        # 2026-11-16 is a Monday holiday in Colombia (Independencia de Cartagena, moved).
        holiday = await allowed(local(bogota, 2026, 11, 16, 10, 0))
        assert holiday["allowed"] is False
        opens = datetime.fromisoformat(holiday["next_allowed_at"]).astimezone(bogota)
        assert (opens.date(), opens.hour) == (date(2026, 11, 17), 7)


class TestReviewFindings:
    """What a review of the contact rules turned up: dates that overflowed, inbound and
    backdated entries that skipped the law, partners reaching internal data."""

    async def test_dates_far_from_now_are_422s(self, client, floor):
        for at in ("0001-01-01T00:00:00Z", "9999-12-31T10:00:00Z"):
            response = await client.post(
                f"/api/v1/accounts/{floor['account'].id}/contact-check",
                json={"channel": "call", "party": "debtor", "at": at},
                headers=floor["collector"],
            )
            assert_problem(response, 422, "invalid_input")
        old = await record(
            client,
            floor,
            rpc(datetime(1, 1, 1, tzinfo=UTC) + timedelta(days=1), floor["points"]["cdmx"].id),
            live=False,
        )
        assert_problem(old, 422, "invalid_input")

    async def test_an_inbound_visit_is_refused(self, client, floor):
        body = rpc(recent_weekday_noon(), floor["points"]["cdmx"].id, direction="inbound")
        body["channel"] = "visit"
        body["contact_point_id"] = None
        # The lead: a phone collector records no visit at all (skill_required).
        response = await record(client, floor, body, "lead")
        assert_problem(response, 422, "invalid_input")
        assert response.json()["errors"][0]["field"] == "body.direction"

    async def test_contacts_are_recorded_in_order(self, client, floor):
        at = recent_weekday_noon()
        assert (await record(client, floor, rpc(at, floor["points"]["cdmx"].id))).status_code == 201
        earlier = await record(
            client, floor, rpc(at - timedelta(hours=1), floor["points"]["cdmx"].id)
        )
        assert_problem(earlier, 422, "invalid_input")
        assert earlier.json()["errors"][0]["field"] == "body.started_at"

    async def test_without_a_contact_point_every_zone_of_the_debtor_is_checked(self, client, floor):
        # 21:30 in Tijuana is after hours in Cancún: with no number named, it is refused.
        instant = local(ZoneInfo("America/Tijuana"), 2026, 11, 17, 21, 30)
        response = await client.post(
            f"/api/v1/accounts/{floor['account'].id}/contact-check",
            json={"channel": "call", "party": "debtor", "at": instant.isoformat()},
            headers=floor["collector"],
        )
        assert response.json()["allowed"] is False

    async def test_the_channel_matches_the_contact_point(self, client, floor):
        response = await client.post(
            f"/api/v1/accounts/{floor['account'].id}/contact-check",
            json={"channel": "email", "contact_point_id": str(floor["points"]["cdmx"].id)},
            headers=floor["collector"],
        )
        assert_problem(response, 422, "invalid_input")

    async def test_neither_party_nor_point_is_a_422(self, client, floor):
        response = await client.post(
            f"/api/v1/accounts/{floor['account'].id}/contact-check",
            json={"channel": "call"},
            headers=floor["collector"],
        )
        assert_problem(response, 422, "invalid_input")

    async def test_only_a_lead_lifts_an_opt_out(self, client, floor):
        at = recent_weekday_noon()
        url = f"/api/v1/accounts/{floor['account'].id}/consents/sms"
        floor["clock"].now = at - timedelta(hours=1)
        assert (
            await client.put(url, json={"status": "opted_out"}, headers=floor["collector"])
        ).status_code == 200
        # An hour later the debtor, reached, authorises SMS again.
        given = (await record(client, floor, rpc(at, floor["points"]["cdmx"].id))).json()
        consent = {"status": "granted", "interaction_id": given["id"]}
        lifted = await client.put(url, json=consent, headers=floor["collector"])
        assert_problem(lifted, 403, "permission_denied")
        assert (await client.put(url, json=consent, headers=floor["lead"])).status_code == 200

    async def test_consent_given_to_one_partner_is_not_anothers(
        self, client, floor, session, make_user, auth_headers
    ):
        other_partner = await make_partner(session)
        other = await make_account(session, other_partner, debtor_id=floor["account"].debtor_id)
        manager = floor["manager"]
        given = (
            await record(client, floor, rpc(recent_weekday_noon(), floor["points"]["cdmx"].id))
        ).json()
        granted = await client.put(
            f"/api/v1/accounts/{floor['account'].id}/consents/call",
            json={"status": "granted", "interaction_id": given["id"]},
            headers=manager,
        )
        assert granted.status_code == 200, granted.text
        theirs = await client.get(f"/api/v1/accounts/{other.id}/consents", headers=manager)
        assert theirs.json() == []

    async def test_a_correction_replaces_the_original_once(self, client, floor, session):
        at = recent_weekday_noon()
        due = (at.astimezone(CDMX).date() + timedelta(days=3)).isoformat()
        first = (
            await record(
                client,
                floor,
                rpc(
                    at,
                    floor["points"]["cdmx"].id,
                    result_code="RPC_PTP",
                    promise={"amount": "1000.00", "due_date": due},
                ),
            )
        ).json()
        fixed = rpc(
            at,
            floor["points"]["cdmx"].id,
            result_code="RPC_PTP",
            promise={"amount": "500.00", "due_date": due},
            amends_id=first["id"],
        )
        second = await record(client, floor, fixed)
        assert second.status_code == 201, second.text
        statuses = {
            p.amount: p.status
            for p in await session.scalars(
                select(Promise).where(Promise.account_id == floor["account"].id)
            )
        }
        assert statuses == {Decimal("1000.00"): "cancelled", Decimal("500.00"): "pending"}
        again = await record(client, floor, fixed)
        assert_problem(again, 409, "interaction_already_corrected")

    async def test_partners_do_not_run_checks_or_read_coaching(
        self, client, floor, session, settings
    ):
        from app.models.partner import Partner
        from tests.helpers.assignments import partner_headers

        partner = await session.get(Partner, floor["account"].partner_id)
        headers = await partner_headers(session, settings, partner)
        check = await client.post(
            f"/api/v1/accounts/{floor['account'].id}/contact-check",
            json={"channel": "call", "party": "debtor"},
            headers=headers,
        )
        assert_problem(check, 403, "permission_denied")
        assert (await client.get("/api/v1/escalations", headers=headers)).status_code == 403
        interaction = (
            await record(client, floor, rpc(recent_weekday_noon(), floor["points"]["cdmx"].id))
        ).json()
        feedback = await client.get(
            f"/api/v1/interactions/{interaction['id']}/feedback", headers=headers
        )
        assert_problem(feedback, 403, "permission_denied")


def test_a_looser_override_stops_the_app_from_starting(settings):
    from app.main import create_app

    looser = settings.model_copy(
        update={"compliance_overrides": {"MX": {"hours": {"start": "06:00", "end": "23:00"}}}}
    )
    with pytest.raises(ValueError):
        create_app(looser)


async def test_a_mexican_debtor_over_sixty_may_be_contacted_condusef_unless_the_debtor(
    client, floor, session
):
    # CONDUSEF despachos rules: no collection with older adults "a menos que este último sea
    # el deudor". This test used to expect a refusal: every 60+ debtor was blocked.
    floor["account"].debtor_birth_date = date(1950, 1, 1)
    session.add(floor["account"])
    await session.flush()
    decision = await check(client, floor, "cdmx", local(CDMX, 2026, 11, 17, 12, 0))
    assert decision["allowed"] is True, decision


async def test_an_older_adult_third_party_is_not_collected_from_condusef(client, floor):
    response = await client.post(
        f"/api/v1/accounts/{floor['account'].id}/contact-check",
        json={
            "channel": "call",
            "contact_point_id": str(floor["points"]["reference"].id),
            "at": local(CDMX, 2026, 11, 17, 12, 0).isoformat(),
            "party_flags": ["older_adult"],
        },
        headers=floor["collector"],
    )
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["allowed"] is False
    [reason] = decision["reasons"]
    assert reason["code"] == "older_adult_third_party"
    assert reason["basis"] == "law" and reason["hard"] is True
    assert "a menos que este último sea el deudor" in reason["citation"]


async def test_treating_60_plus_debtors_as_vulnerable_is_a_policy(client, floor, session):
    from app.services.strategies import current_strategy

    floor["account"].debtor_birth_date = date(1950, 1, 1)
    session.add(floor["account"])
    await session.flush()
    _, document = await current_strategy(session, floor["account"].partner_id)
    from dataclasses import replace as dc_replace

    from app.domain.stages import Stage
    from app.domain.strategies import StrategyDocument
    from app.models.strategy import CollectionStrategy
    from app.services.strategies import document_to_json

    stages = dict(document.stages)
    stages[Stage.MID] = dc_replace(stages[Stage.MID], older_adult_debtors_vulnerable=True)
    session.add(
        CollectionStrategy(
            partner_id=floor["account"].partner_id,
            version=1,
            document=document_to_json(StrategyDocument(stages=stages)),
            created_by="test",
        )
    )
    await session.flush()
    decision = await check(client, floor, "cdmx", local(CDMX, 2026, 11, 17, 12, 0))
    assert decision["allowed"] is False
    [reason] = decision["reasons"]
    assert reason["code"] == "older_adult_policy"
    assert reason["basis"] == "policy" and reason["citation"] is None
    assert reason["hard"] is False


class TestTheDebtorsClock:
    """A debtor in Chihuahua (America/Chihuahua, UTC−6 all year since 2022): the phone's
    area decides, never the partner's clock nor the zone stored at intake."""

    async def chihuahua_point(self, session, floor, **fields):
        account = floor["account"]
        point = ContactPoint(
            partner_id=account.partner_id,
            account_id=account.id,
            debtor_id=account.debtor_id,
            kind=fields.pop("kind", "phone"),
            value=fields.pop("value", "+526141234567"),
            # What intake stored before the fix: phonenumbers puts +52 614 in Mazatlán.
            time_zone="America/Mazatlan",
            **fields,
        )
        session.add(point)
        await session.flush()
        floor["points"]["chihuahua"] = point
        return point

    @pytest.mark.parametrize(("month", "day"), [(1, 13), (7, 14)], ids=["winter", "summer"])
    async def test_22_30_in_chihuahua_is_refused_condusef_hours(
        self, client, floor, session, month, day
    ):
        await self.chihuahua_point(session, floor)
        at = local(ZoneInfo("America/Chihuahua"), 2026, month, day, 22, 30)
        decision = await check(client, floor, "chihuahua", at)
        assert decision["allowed"] is False
        assert decision["time_zone"] == "America/Chihuahua"
        assert decision["time_zones"] == ["America/Chihuahua"]
        [reason] = decision["reasons"]
        assert reason["code"] == "outside_hours" and reason["basis"] == "law"
        assert "07:00–22:00" in reason["citation"]

    @pytest.mark.parametrize(("month", "day"), [(1, 13), (7, 14)], ids=["winter", "summer"])
    async def test_07_30_in_chihuahua_is_allowed_condusef_hours(
        self, client, floor, session, month, day
    ):
        await self.chihuahua_point(session, floor)
        at = local(ZoneInfo("America/Chihuahua"), 2026, month, day, 7, 30)
        decision = await check(client, floor, "chihuahua", at)
        assert decision["allowed"] is True, decision
        assert decision["time_zone"] == "America/Chihuahua"

    async def test_a_check_without_a_point_uses_the_debtors_zones_not_the_partners(
        self, client, floor, session
    ):
        await self.chihuahua_point(session, floor)
        response = await client.post(
            f"/api/v1/accounts/{floor['account'].id}/contact-check",
            json={
                "channel": "sms",
                "party": "debtor",
                "at": local(ZoneInfo("America/Chihuahua"), 2026, 1, 13, 12, 0).isoformat(),
            },
            headers=floor["collector"],
        )
        assert response.status_code == 200, response.text
        zones = response.json()["time_zones"]
        assert "America/Chihuahua" in zones and "America/Mazatlan" not in zones
        assert set(zones) == {
            "America/Chihuahua",
            "America/Mexico_City",
            "America/Tijuana",
            "America/Cancun",
        }


def test_age_flags_at_the_birthday_edges():
    from app.domain.contact_check import DebtorFlag, age_flags

    born = date(2008, 11, 24)
    assert age_flags(born, date(2026, 11, 23)) == {DebtorFlag.MINOR}
    assert age_flags(born, date(2026, 11, 24)) == frozenset()
    assert age_flags(date(1966, 11, 24), date(2026, 11, 24)) == {DebtorFlag.OLDER_ADULT}
    assert age_flags(None, date(2026, 11, 24)) == frozenset()


async def test_the_profile_explains_what_a_60_plus_debtors_age_means(client, floor, session):
    floor["account"].debtor_birth_date = date(1950, 1, 1)
    session.add(floor["account"])
    await session.flush()
    response = await client.get(
        f"/api/v1/debtors/{floor['account'].debtor_id}", headers=floor["collector"]
    )
    assert response.status_code == 200, response.text
    [account] = response.json()["accounts"]
    [notice] = account["age_notices"]
    assert notice["flag"] == "older_adult" and notice["basis"] == "policy"
    assert "debtor" in notice["effect"]


class TestConsentProvenance:
    """Consent is recorded from its evidence (DESIGN.md 2026-12-05); a revocation at once."""

    async def test_a_collector_cannot_grant_without_evidence(self, client, floor, session):
        response = await client.put(
            f"/api/v1/accounts/{floor['account'].id}/consents/whatsapp",
            json={"status": "granted"},
            headers=floor["collector"],
        )
        assert_problem(response, 422, "invalid_input")
        assert response.json()["errors"][0]["field"] == "body.interaction_id"
        listed = await client.get(
            f"/api/v1/accounts/{floor['account'].id}/consents", headers=floor["collector"]
        )
        assert listed.json() == []

    async def test_consent_comes_from_a_right_party_contact_of_the_account(self, client, floor):
        at = recent_weekday_noon()
        url = f"/api/v1/accounts/{floor['account'].id}/consents/whatsapp"
        missed = await record(
            client,
            floor,
            {
                "channel": "call",
                "contact_point_id": str(floor["points"]["cdmx"].id),
                "party": "none",
                "result_code": "NO_ANSWER",
                "started_at": at.isoformat(),
            },
        )
        assert missed.status_code == 201, missed.text
        # Nobody answered: no one gave consent.
        refused = await client.put(
            url,
            json={"status": "granted", "interaction_id": missed.json()["id"]},
            headers=floor["collector"],
        )
        assert_problem(refused, 422, "invalid_input")
        assert refused.json()["errors"][0]["field"] == "body.interaction_id"
        reached = await record(
            client, floor, rpc(at + timedelta(minutes=10), floor["points"]["cdmx"].id)
        )
        granted = await client.put(
            url,
            json={"status": "granted", "interaction_id": reached.json()["id"]},
            headers=floor["collector"],
        )
        assert granted.status_code == 200, granted.text
        body = granted.json()
        assert (body["status"], body["source"]) == ("granted", "debtor_in_interaction")
        assert body["evidence_interaction_id"] == reached.json()["id"]
        assert body["given_at"] == reached.json()["started_at"]

    async def test_a_collector_does_not_file_signed_documents_or_partner_records(
        self, client, floor
    ):
        url = f"/api/v1/accounts/{floor['account'].id}/consents/sms"
        for body in (
            {"status": "granted", "source": "partner_file", "partner_reference": "X-1"},
            {"status": "granted", "source": "signed_document", "document_id": str(uuid.uuid4())},
        ):
            response = await client.put(url, json=body, headers=floor["collector"])
            assert_problem(response, 403, "permission_denied")

    async def test_a_revocation_takes_effect_at_once(self, client, floor):
        at = recent_weekday_noon()
        reached = (await record(client, floor, rpc(at, floor["points"]["cdmx"].id))).json()
        url = f"/api/v1/accounts/{floor['account'].id}/consents/call"
        await client.put(
            url,
            json={"status": "granted", "interaction_id": reached["id"]},
            headers=floor["collector"],
        )
        floor["clock"].now = None
        revoked = await client.put(url, json={"status": "opted_out"}, headers=floor["collector"])
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["source"] == "debtor_request"
        later = await check(client, floor, "cdmx", datetime.now(UTC) + timedelta(minutes=1))
        assert later["allowed"] is False
        assert "channel_opted_out" in {r["code"] for r in later["reasons"]}
        # The older consent does not undo the later revocation, whoever names it.
        again = await client.put(
            url, json={"status": "granted", "interaction_id": reached["id"]}, headers=floor["lead"]
        )
        assert_problem(again, 422, "invalid_input")

    async def test_an_opt_out_result_revokes_the_channel_with_its_interaction(self, client, floor):
        at = recent_weekday_noon()
        opted = await record(
            client, floor, rpc(at, floor["points"]["cdmx"].id, result_code="CHANNEL_OPT_OUT")
        )
        assert opted.status_code == 201, opted.text
        (consent,) = (
            await client.get(
                f"/api/v1/accounts/{floor['account'].id}/consents", headers=floor["collector"]
            )
        ).json()
        assert (consent["channel"], consent["status"]) == ("call", "opted_out")
        assert consent["evidence_interaction_id"] == opted.json()["id"]

    async def test_the_partner_sends_consent_with_its_reference(
        self, client, floor, session, settings
    ):
        from app.models.partner import Partner
        from tests.helpers.assignments import partner_headers

        partner = await session.get(Partner, floor["account"].partner_id)
        headers = await partner_headers(session, settings, partner)
        url = f"/api/v1/accounts/{floor['account'].id}/consents/email"
        missing = await client.put(url, json={"status": "granted"}, headers=headers)
        assert_problem(missing, 422, "invalid_input")
        assert missing.json()["errors"][0]["field"] == "body.partner_reference"
        sent = await client.put(
            url, json={"status": "granted", "partner_reference": "AUT-2291"}, headers=headers
        )
        assert sent.status_code == 200, sent.text
        assert (sent.json()["source"], sent.json()["partner_reference"]) == (
            "partner_file",
            "AUT-2291",
        )


class TestBackdating:
    """Outbound contacts are stamped by the server's clock; leads enter late ones, saying why."""

    async def test_a_collector_cannot_enter_a_call_of_hours_ago(self, client, floor, session):
        at = recent_weekday_noon()
        floor["clock"].now = at + timedelta(hours=3)
        response = await record(client, floor, rpc(at, floor["points"]["cdmx"].id), live=False)
        assert_problem(response, 422, "invalid_input")
        assert response.json()["errors"][0]["field"] == "body.started_at"
        # Saying why is not theirs to do.
        reasoned = rpc(at, floor["points"]["cdmx"].id, backdated_reason="Forgot to save it")
        response = await record(client, floor, reasoned, live=False)
        assert_problem(response, 403, "permission_denied")
        assert await session.scalar(select(func.count()).select_from(Interaction)) == 0

    async def test_entered_as_it_ends_is_on_time(self, client, floor):
        at = recent_weekday_noon()
        floor["clock"].now = at + timedelta(minutes=4 + 5)  # ended at +4, entered 5 min later
        response = await record(client, floor, rpc(at, floor["points"]["cdmx"].id), live=False)
        assert response.status_code == 201, response.text
        floor["clock"].now = at + timedelta(hours=1, minutes=10)
        late = rpc(at + timedelta(hours=1), floor["points"]["cdmx"].id)  # ended 1:04, 6 min
        assert (await record(client, floor, late, live=False)).status_code == 422

    async def test_a_lead_needs_a_reason_and_it_is_judged_at_its_stated_instant(
        self, client, floor
    ):
        noon = recent_weekday_noon().astimezone(CDMX)
        floor["clock"].now = noon + timedelta(days=1)
        night = local(CDMX, noon.year, noon.month, noon.day, 23, 30)
        body = rpc(night, floor["points"]["cdmx"].id)
        unreasoned = await record(client, floor, body, "lead", live=False)
        assert_problem(unreasoned, 422, "invalid_input")
        assert unreasoned.json()["errors"][0]["field"] == "body.backdated_reason"
        body["backdated_reason"] = "From the collector's paper sheet after a system outage"
        recorded = await record(client, floor, body, "lead", live=False)
        assert recorded.status_code == 201, recorded.text
        stored = recorded.json()
        assert stored["backdated_reason"] == body["backdated_reason"]
        assert datetime.fromisoformat(stored["started_at"]) == night
        # 23:30 in Mexico City is after 22:00 (CONDUSEF despachos rules): judged then, not
        # at the moment it was entered.
        assert stored["compliance"]["allowed"] is False
        assert "outside_hours" in {r["code"] for r in stored["compliance"]["reasons"]}


class TestSkills:
    async def test_a_phone_collector_cannot_record_a_visit(self, client, floor, session):
        address = ContactPoint(
            partner_id=floor["account"].partner_id,
            account_id=floor["account"].id,
            debtor_id=floor["account"].debtor_id,
            kind="address",
            value="Av. Reforma 1",
            time_zone="America/Mexico_City",
        )
        session.add(address)
        await session.flush()
        body = {
            "channel": "visit",
            "contact_point_id": str(address.id),
            "party": "none",
            "result_code": "ADDRESS_VERIFIED",
            "started_at": recent_weekday_noon().isoformat(),
            "position": {"latitude": "19.432608", "longitude": "-99.133209", "accuracy_m": 10},
        }
        response = await record(client, floor, body)
        assert response.status_code == 403
        assert response.json()["code"] == "skill_required"
        assert await session.scalar(select(func.count()).select_from(Interaction)) == 0

    async def test_a_field_collector_cannot_send_whatsapp_but_may_call(
        self, client, floor, session, make_user, auth_headers
    ):
        from app.domain.roles import Skill

        field = await make_user(Role.COLLECTOR, skills=[Skill.FIELD])
        floor["account"].assigned_collector_id = field.id
        session.add(floor["account"])
        await session.flush()
        floor["field"] = auth_headers(field)
        at = recent_weekday_noon()
        call = {
            "channel": "call",
            "contact_point_id": str(floor["points"]["cdmx"].id),
            "party": "none",
            "result_code": "NO_ANSWER",
            "started_at": at.isoformat(),
        }
        assert (await record(client, floor, call, "field")).status_code == 201
        message = {
            **call,
            "channel": "whatsapp",
            "started_at": (at + timedelta(hours=1)).isoformat(),
        }
        refused = await record(client, floor, message, "field")
        assert refused.status_code == 403
        assert refused.json()["code"] == "skill_required"


class TestComplianceIncidents:
    async def breach(self, client, floor) -> dict:
        """A lead enters, with a reason, an outbound call made at 23:30 in the debtor's zone."""
        noon = recent_weekday_noon().astimezone(CDMX)
        floor["clock"].now = noon + timedelta(days=1)
        night = local(CDMX, noon.year, noon.month, noon.day, 23, 30)
        body = rpc(night, floor["points"]["cdmx"].id, backdated_reason="Dialer log import")
        response = await record(client, floor, body, "lead", live=False)
        assert response.status_code == 201, response.text
        return response.json()

    async def test_a_law_breach_is_stored_and_opens_an_incident(self, client, floor, session):
        interaction = await self.breach(client, floor)
        incident_id = interaction["compliance"]["incident_id"]
        listed = await client.get("/api/v1/compliance/incidents", headers=floor["lead"])
        assert listed.status_code == 200, listed.text
        (incident,) = listed.json()["items"]
        assert incident["id"] == incident_id
        assert incident["interaction_id"] == interaction["id"]
        assert incident["status"] == "open"
        (reason,) = [r for r in incident["reasons"] if r["code"] == "outside_hours"]
        assert reason["basis"] == "law"
        assert "CONDUSEF" in reason["citation"]
        occurred = datetime.fromisoformat(incident["occurred_at"]).astimezone(CDMX)
        assert (occurred.hour, occurred.minute) == (23, 30)
        seen = await client.get("/api/v1/compliance/incidents", headers=floor["manager"])
        assert incident_id in {i["id"] for i in seen.json()["items"]}

    async def test_auditors_read_collectors_do_not(self, client, floor, make_user, auth_headers):
        incident_id = (await self.breach(client, floor))["compliance"]["incident_id"]
        auditor = auth_headers(await make_user(Role.AUDITOR))
        seen = await client.get("/api/v1/compliance/incidents?status=open", headers=auditor)
        assert incident_id in {i["id"] for i in seen.json()["items"]}
        assert (
            await client.get("/api/v1/compliance/incidents", headers=floor["collector"])
        ).status_code == 403
        other_lead = auth_headers(await make_user(Role.TEAM_LEAD))
        theirs = await client.get("/api/v1/compliance/incidents", headers=other_lead)
        assert theirs.json()["items"] == []
        assert (
            await client.post(
                f"/api/v1/compliance/incidents/{incident_id}/resolve",
                json={"note": "x"},
                headers=auditor,
            )
        ).status_code == 403

    async def test_the_lead_resolves_it_with_a_note_once_and_it_is_audited(
        self, client, floor, session
    ):
        incident_id = (await self.breach(client, floor))["compliance"]["incident_id"]
        url = f"/api/v1/compliance/incidents/{incident_id}/resolve"
        assert (await client.post(url, json={}, headers=floor["lead"])).status_code == 422
        resolved = await client.post(
            url,
            json={"note": "Dialer schedule fixed to the debtor's zone; collector coached."},
            headers=floor["lead"],
        )
        assert resolved.status_code == 200, resolved.text
        body = resolved.json()
        assert body["status"] == "resolved"
        assert body["resolved_by"] == str(floor["lead_user"].id)
        twice = await client.post(url, json={"note": "again"}, headers=floor["lead"])
        assert twice.status_code == 409
        assert twice.json()["code"] == "compliance_incident_resolved"
        actions = set(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.entity_id == incident_id)
            )
        )
        assert actions == {"compliance_incident.opened", "compliance_incident.resolved"}
        still_open = await client.get(
            "/api/v1/compliance/incidents?status=open", headers=floor["manager"]
        )
        assert incident_id not in {i["id"] for i in still_open.json()["items"]}

    async def test_a_policy_only_breach_opens_no_incident(self, client, floor):
        from app.domain.strategies import DEFAULT
        from app.services.strategies import document_to_json

        mid = document_to_json(DEFAULT)["stages"]["mid"]
        mid["caps"]["call"] = {"per_day": 1, "per_week": 3}
        stored = await client.put(
            f"/api/v1/partners/{floor['account'].partner_id}/strategy",
            json={"stages": {"mid": mid}},
            headers=floor["manager"],
        )
        assert stored.status_code == 200, stored.text
        at = recent_weekday_noon()
        assert (await record(client, floor, rpc(at, floor["points"]["cdmx"].id))).status_code == 201
        second = await record(
            client, floor, rpc(at + timedelta(hours=1), floor["points"]["cdmx"].id)
        )
        assert second.status_code == 201, second.text
        verdict = second.json()["compliance"]
        assert verdict["allowed"] is False
        assert {r["basis"] for r in verdict["reasons"]} == {"policy"}
        assert "incident_id" not in verdict
        listed = await client.get("/api/v1/compliance/incidents", headers=floor["manager"])
        assert listed.json()["items"] == []


async def test_interactions_page_newest_first_by_their_time_then_id(client, floor, session):
    """Keyset on (started_at, id): equal times are broken by id, nothing repeats or drops."""
    account = floor["account"]
    base = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
    made = []
    for minutes in (0, 5, 5, 5, 9):  # three at one instant
        row = Interaction(
            account_id=account.id, partner_id=account.partner_id, debtor_id=account.debtor_id,
            channel="call", direction="inbound", party="debtor", result_code="NO_ANSWER",
            started_at=base + timedelta(minutes=minutes), pack_version="MX-test",
            compliance={}, created_by="test",
        )  # fmt: skip
        session.add(row)
        await session.flush()
        made.append(row)
    await session.commit()
    expected = [str(r.id) for r in sorted(made, key=lambda r: (r.started_at, r.id), reverse=True)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get(
            f"/api/v1/accounts/{account.id}/interactions", params=params, headers=floor["manager"]
        )
        assert response.status_code == 200, response.text
        seen.extend(i["id"] for i in response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert [s for s in seen if s in expected] == expected
    bad = await client.get(
        f"/api/v1/accounts/{account.id}/interactions",
        params={"cursor": "bm90LWEtY3Vyc29y"},
        headers=floor["manager"],
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.cursor"
