"""Skip tracing through the API: new phones, emails, addresses and references found for a
debtor, merged when they are already known, verified or retired by the calls made on them,
and scored from their history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from app.domain.roles import Role
from app.models.audit import AuditEvent
from app.models.debtor import ContactPoint, RelatedParty
from app.models.interaction import Interaction
from app.services.contact_points import contact_points_of
from tests.factories import assert_problem, make_account, make_partner

CDMX = ZoneInfo("America/Mexico_City")
TIJUANA = ZoneInfo("America/Tijuana")


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def recent_weekday_noon() -> datetime:
    """Noon in Mexico City on the most recent Tuesday at least a day ago."""
    day = datetime.now(CDMX).date() - timedelta(days=1)
    while day.weekday() != 1:
        day -= timedelta(days=1)
    return local(CDMX, day.year, day.month, day.day, 12, 0)


@pytest.fixture
async def desk(session, make_user, auth_headers, clock):
    """A Mexican partner and a phone collector with one assigned account (mid stage, so the
    default strategy calls it); another collector; a second debtor's account."""
    partner = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    account = await make_account(session, partner, assigned_collector_id=collector.id, dpd=45)
    other_debtor_account = await make_account(
        session, partner, assigned_collector_id=collector.id, dpd=45
    )
    return {
        "clock": clock,
        "partner": partner,
        "account": account,
        "other_debtor_account": other_debtor_account,
        "collector": auth_headers(collector),
        "other_collector": auth_headers(await make_user(Role.COLLECTOR)),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
    }


async def add_point(client, desk, who: str = "collector", debtor_id=None, **body: object):
    account = desk["account"]
    payload: dict[str, object] = {"account_id": str(account.id)} | body
    return await client.post(
        f"/api/v1/debtors/{debtor_id or account.debtor_id}/contact-points",
        json=payload,
        headers=desk[who],
    )


async def add_reference(client, desk, **body: object):
    account = desk["account"]
    payload: dict[str, object] = {"account_id": str(account.id)} | body
    return await client.post(
        f"/api/v1/debtors/{account.debtor_id}/references", json=payload, headers=desk["collector"]
    )


async def call(client, desk, point_id: str, result: str, at: datetime):
    body: dict[str, object] = {
        "channel": "call",
        "contact_point_id": point_id,
        "party": "debtor" if result.startswith("RPC") else "none",
        "result_code": result,
        "started_at": at.isoformat(),
    }
    if result.startswith("RPC"):
        body["pcr"] = {
            "problem_category": "reduced_income",
            "problem": "Hours cut at the factory",
            "circumstance": "Two children at school",
            "resolution": "Will pay part on the 15th",
        }
    desk["clock"].now = at + timedelta(minutes=1)  # entered as it ended
    response = await client.post(
        f"/api/v1/accounts/{desk['account'].id}/interactions", json=body, headers=desk["collector"]
    )
    assert response.status_code == 201, response.text


class TestAddContactPoint:
    async def test_a_phone_is_kept_in_e164_unverified_with_its_zone(self, client, desk, session):
        response = await add_point(client, desk, kind="phone", value="664 123 4567")
        assert response.status_code == 201, response.text
        point = response.json()
        assert point["value_masked"] == "****4567"
        assert point["verification_status"] == "unverified"
        assert point["verified_at"] is None
        assert point["source"] == "skip_trace"
        assert point["time_zone"] == "America/Tijuana"
        assert (point["attempts"], point["contactability"], point["best_hour"]) == (0, None, None)
        assert point["merged"] is False
        stored = await session.get(ContactPoint, point["id"])
        assert stored is not None
        assert (stored.value, stored.account_id, stored.debtor_id) == (
            "+526641234567",
            desk["account"].id,
            desk["account"].debtor_id,
        )

    async def test_an_email_is_lower_cased(self, client, desk, session):
        response = await add_point(
            client, desk, kind="email", value=" Juan.Perez@Correo.MX ", source="debtor"
        )
        assert response.status_code == 201, response.text
        assert response.json()["value_masked"] == "j***@correo.mx"
        assert response.json()["source"] == "debtor"
        stored = await session.get(ContactPoint, response.json()["id"])
        assert stored is not None and stored.value == "juan.perez@correo.mx"

    async def test_an_address_takes_its_states_zone(self, client, desk):
        response = await add_point(
            client,
            desk,
            kind="address",
            value="Calle  Juárez 45, Col. Centro",
            state="Quintana Roo",
            municipality="Benito Juárez",
            postal_code="77500",
            source="field_visit",
            note="Neighbour confirmed on the visit",
        )
        assert response.status_code == 201, response.text
        point = response.json()
        assert point["time_zone"] == "America/Cancun"
        assert (point["state"], point["municipality"], point["postal_code"]) == (
            "Quintana Roo",
            "Benito Juárez",
            "77500",
        )
        assert point["value_masked"] == "Cal***"

    async def test_the_same_number_written_differently_merges(self, client, desk, session):
        first = await add_point(client, desk, kind="phone", value="55 1234 5678")
        second = await add_point(client, desk, kind="phone", value="+525512345678")
        assert (first.status_code, second.status_code) == (201, 200)
        assert second.json()["id"] == first.json()["id"]
        assert second.json()["merged"] is True
        rows = (
            await session.scalars(
                select(ContactPoint).where(ContactPoint.account_id == desk["account"].id)
            )
        ).all()
        assert len(rows) == 1

    async def test_an_email_merges_whatever_its_case(self, client, desk):
        first = await add_point(client, desk, kind="email", value="ana@mail.com")
        second = await add_point(client, desk, kind="email", value="ANA@Mail.com")
        assert second.status_code == 200
        assert second.json()["id"] == first.json()["id"]

    async def test_an_address_merges_whatever_its_case_and_accents(self, client, desk, session):
        first = await add_point(
            client, desk, kind="address", value="Av. Insurgentes Sur 1234", state="CDMX"
        )
        second = await add_point(
            client, desk, kind="address", value="av.  insurgentes SUR 1234", state="CDMX"
        )
        third = await add_point(
            client, desk, kind="address", value="Áv. Ínsurgentes Sur 1234", state="CDMX"
        )
        assert (first.status_code, second.status_code, third.status_code) == (201, 200, 200)
        assert second.json()["id"] == third.json()["id"] == first.json()["id"]
        rows = (
            await session.scalars(
                select(ContactPoint).where(ContactPoint.account_id == desk["account"].id)
            )
        ).all()
        assert [r.value for r in rows] == ["Av. Insurgentes Sur 1234"]

    async def test_an_address_the_partner_sent_merges_too(self, client, desk, session):
        account = desk["account"]
        session.add(
            ContactPoint(
                partner_id=account.partner_id,
                account_id=account.id,
                debtor_id=account.debtor_id,
                kind="address",
                value="Calle Juárez 45",
            )
        )
        await session.flush()
        response = await add_point(client, desk, kind="address", value="CALLE JUAREZ 45")
        assert response.status_code == 200, response.text
        assert response.json()["source"] == "partner"

    async def test_a_more_trustworthy_source_takes_over_the_point(self, client, desk):
        first = await add_point(client, desk, kind="phone", value="5512345678")
        assert first.json()["source"] == "skip_trace"
        second = await add_point(client, desk, kind="phone", value="55-1234-5678", source="debtor")
        assert second.status_code == 200
        assert second.json()["source"] == "debtor"
        third = await add_point(client, desk, kind="phone", value="5512345678")
        assert third.json()["source"] == "debtor"

    async def test_the_partners_own_number_stays_the_partners(self, client, desk, session):
        account = desk["account"]
        session.add(
            ContactPoint(
                partner_id=account.partner_id,
                account_id=account.id,
                debtor_id=account.debtor_id,
                kind="phone",
                value="+525512345678",
            )
        )
        await session.flush()
        response = await add_point(client, desk, kind="phone", value="5512345678", source="debtor")
        assert response.status_code == 200
        assert response.json()["source"] == "partner"

    async def test_responses_and_audit_carry_masked_values_only(self, client, desk, session):
        response = await add_point(client, desk, kind="phone", value="55 9876 5432")
        assert response.status_code == 201
        assert "98765432" not in response.text and "9876 5432" not in response.text
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.entity_id == response.json()["id"])
            )
        ).all()
        assert [e.action for e in events] == ["contact_point.added"]
        recorded = json.dumps(events[0].after)
        assert "****5432" in recorded
        assert "98765432" not in recorded

    async def test_a_manager_may_add_to_any_account(self, client, desk):
        response = await add_point(client, desk, "manager", kind="phone", value="3312345678")
        assert response.status_code == 201, response.text


class TestContactPointRefusals:
    async def test_another_collectors_account_is_not_found(self, client, desk):
        response = await add_point(
            client, desk, "other_collector", kind="phone", value="5512345678"
        )
        assert_problem(response, 404, "not_found")
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_an_account_of_another_debtor_is_not_found(self, client, desk):
        other = desk["other_debtor_account"]
        response = await add_point(
            client, desk, debtor_id=other.debtor_id, kind="phone", value="5512345678"
        )
        assert_problem(response, 404, "not_found")

    async def test_an_auditor_changes_nothing(self, client, desk):
        response = await add_point(client, desk, "auditor", kind="phone", value="5512345678")
        assert_problem(response, 403, "permission_denied")

    async def test_a_recalled_account_takes_no_new_data(self, client, desk, session):
        desk["account"].status = "recalled"
        session.add(desk["account"])
        await session.flush()
        response = await add_point(client, desk, kind="phone", value="5512345678")
        assert_problem(response, 409, "account_not_active")

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"kind": "phone", "value": "123"}, "body.value"),
            ({"kind": "phone", "value": "9" * 41}, "body.value"),
            ({"kind": "email", "value": "not-an-email"}, "body.value"),
            ({"kind": "phone", "value": "5512345678", "state": "Jalisco"}, "body.state"),
            ({"kind": "address", "value": "Calle 1", "postal_code": "ABC"}, "body.postal_code"),
            ({"kind": "address", "value": "   "}, "body.value"),
            ({"kind": "fax", "value": "5512345678"}, "body.kind"),
            ({"kind": "phone", "value": "5512345678", "source": "partner"}, "body.source"),
            # Invisible characters would make two equal-looking values differ.
            ({"kind": "phone", "value": "55\u200b1234 5678"}, "body.value"),
            ({"kind": "email", "value": "ana\u2060@mail.com"}, "body.value"),
            ({"kind": "address", "value": "Calle \u202eJuárez 45"}, "body.value"),
            ({"kind": "address", "value": "Calle 1", "state": "\ufeffJalisco"}, "body.state"),
            (
                {"kind": "address", "value": "Calle 1", "municipality": "Zapopan\u2064"},
                "body.municipality",
            ),
            ({"kind": "phone", "value": "5512345678", "note": "Hermano\u200d"}, "body.note"),
            # A Mexican address's state must give its time zone.
            ({"kind": "address", "value": "Calle 1", "state": "Narnia"}, "body.state"),
            ({"kind": "address", "value": "Calle 1", "state": "Texas"}, "body.state"),
            ({"kind": "email", "value": "<ana>@mail.com"}, "body.value"),
            ({"kind": "email", "value": '"ana lopez"@mail.com'}, "body.value"),
            ({"kind": "email", "value": "ana lopez@mail.com"}, "body.value"),
            ({"kind": "email", "value": "Ana <ana@mail.com>"}, "body.value"),
            ({"kind": "phone", "value": "55 1234 5678 ext. 12"}, "body.value"),
            ({"kind": "phone", "value": "+52 55 1234 5678 x12"}, "body.value"),
        ],
    )
    async def test_bad_input_is_a_problem_naming_the_field(
        self, client, desk, session, body, field
    ):
        response = await add_point(client, desk, **body)
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]]
        rows = (
            await session.scalars(
                select(ContactPoint).where(ContactPoint.account_id == desk["account"].id)
            )
        ).all()
        assert rows == []


class TestReferences:
    async def test_a_reference_is_kept_with_its_phones(self, client, desk, session):
        response = await add_reference(
            client,
            desk,
            full_name="José Pérez",
            relationship="family",
            phones=["33 1234 5678", "6641234567"],
            note="Brother, per neighbour",
        )
        assert response.status_code == 201, response.text
        reference = response.json()
        assert (reference["kind"], reference["relationship"], reference["source"]) == (
            "reference",
            "family",
            "skip_trace",
        )
        assert [p["value_masked"] for p in reference["phones"]] == ["****5678", "****4567"]
        assert all(p["related_party_id"] == reference["id"] for p in reference["phones"])
        assert reference["phones"][1]["time_zone"] == "America/Tijuana"
        stored = await session.get(RelatedParty, reference["id"])
        assert stored is not None and stored.account_id == desk["account"].id
        assert "3312345678" not in response.text

    async def test_the_same_name_without_accents_merges_and_adds_phones(self, client, desk):
        first = await add_reference(
            client, desk, full_name="José Pérez", relationship="family", phones=["3312345678"]
        )
        second = await add_reference(
            client,
            desk,
            full_name="  JOSE   PEREZ ",
            relationship="family",
            phones=["+52 33 1234 5678", "8112345678", "81 1234 5678"],
        )
        assert (first.status_code, second.status_code) == (201, 200), second.text
        merged = second.json()
        assert merged["id"] == first.json()["id"]
        assert merged["merged"] is True
        assert merged["full_name"] == "José Pérez"
        assert len(merged["phones"]) == 2
        assert merged["phones"][0]["id"] == first.json()["phones"][0]["id"]

    async def test_another_name_is_another_reference(self, client, desk):
        first = await add_reference(client, desk, full_name="Ana Pérez", relationship="work")
        second = await add_reference(client, desk, full_name="Ana López", relationship="work")
        assert (first.status_code, second.status_code) == (201, 201)
        assert first.json()["id"] != second.json()["id"]

    async def test_a_bad_phone_names_its_position_and_keeps_nothing(self, client, desk, session):
        response = await add_reference(
            client, desk, full_name="Ana Pérez", relationship="work", phones=["3312345678", "12"]
        )
        assert_problem(response, 422, "invalid_input")
        assert [e["field"] for e in response.json()["errors"]] == ["body.phones[1]"]
        rows = (
            await session.scalars(
                select(RelatedParty).where(RelatedParty.account_id == desk["account"].id)
            )
        ).all()
        assert rows == []

    async def test_an_extension_is_refused_and_not_dropped(self, client, desk):
        response = await add_point(client, desk, kind="phone", value="55 1234 5678 ext. 12")
        assert_problem(response, 422, "invalid_input")
        (error,) = response.json()["errors"]
        assert "extension" in error["message"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"full_name": "J."}, "body.full_name"),
            ({"full_name": "12 34"}, "body.full_name"),
            ({"full_name": "\u0301\u0301\u0301"}, "body.full_name"),
            ({"full_name": "J \u0301"}, "body.full_name"),
            ({"full_name": "Ana\u200b Pérez"}, "body.full_name"),
            ({"full_name": "Ana Pérez", "phones": ["33 1234 5678 ext 4"]}, "body.phones[0]"),
            ({"full_name": "Ana Pérez", "phones": ["33\u200e12345678"]}, "body.phones.0"),
            ({"full_name": "Ana Pérez", "note": "\u202aTía"}, "body.note"),
        ],
    )
    async def test_bad_references_are_refused_and_keep_nothing(
        self, client, desk, session, body, field
    ):
        response = await add_reference(client, desk, relationship="family", **body)
        assert_problem(response, 422, ("invalid_input", "validation_failed"))
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == [field]
        rows = (
            await session.scalars(
                select(RelatedParty).where(RelatedParty.account_id == desk["account"].id)
            )
        ).all()
        assert rows == []

    async def test_a_two_letter_name_with_accents_is_enough(self, client, desk):
        response = await add_reference(client, desk, full_name="Ó É", relationship="family")
        assert response.status_code == 201, response.text

    async def test_references_are_audited_without_names_or_numbers(self, client, desk, session):
        response = await add_reference(
            client, desk, full_name="Rosa Gómez", relationship="personal", phones=["3312345678"]
        )
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.entity_id == response.json()["id"])
            )
        ).all()
        assert [e.action for e in events] == ["reference.added"]
        recorded = json.dumps(events[0].after)
        assert "Rosa" not in recorded and "3312345678" not in recorded
        assert events[0].after is not None and events[0].after["phones_added"] == ["****5678"]

    async def test_a_foreign_debtor_is_not_found(self, client, desk):
        other = desk["other_debtor_account"]
        response = await client.post(
            f"/api/v1/debtors/{other.debtor_id}/references",
            json={
                "account_id": str(desk["account"].id),
                "full_name": "Ana Pérez",
                "relationship": "family",
            },
            headers=desk["collector"],
        )
        assert_problem(response, 404, "not_found")


class TestStatusFromInteractions:
    async def test_a_right_party_contact_verifies_the_number(self, client, desk, session):
        point = (await add_point(client, desk, kind="phone", value="5512345678")).json()
        at = recent_weekday_noon()
        await call(client, desk, point["id"], "NO_ANSWER", at)
        await call(client, desk, point["id"], "RPC", at + timedelta(minutes=30))
        again = await add_point(client, desk, kind="phone", value="5512345678")
        status = again.json()
        assert status["verification_status"] == "verified"
        assert datetime.fromisoformat(status["verified_at"]) == at + timedelta(minutes=30)
        assert (status["attempts"], status["right_party_contacts"]) == (2, 1)
        assert status["contactability"] == "0.50"
        assert status["best_hour"] == 12
        stored = await session.get(ContactPoint, point["id"])
        assert stored is not None
        await session.refresh(stored)
        assert stored.is_valid is True

    async def test_wrong_numbers_make_it_invalid(self, client, desk, session):
        point = (await add_point(client, desk, kind="phone", value="5512345678")).json()
        at = recent_weekday_noon()
        for minutes in (0, 30):
            await call(client, desk, point["id"], "WRONG_NUMBER", at + timedelta(minutes=minutes))
        stored = await session.get(ContactPoint, point["id"])
        assert stored is not None
        await session.refresh(stored)
        assert (stored.verification_status, stored.is_valid, stored.failed_attempts) == (
            "invalid",
            False,
            2,
        )

    async def test_the_debtor_giving_an_invalid_number_again_reopens_it(self, client, desk):
        point = (await add_point(client, desk, kind="phone", value="5512345678")).json()
        at = recent_weekday_noon()
        for minutes in (0, 30):
            await call(client, desk, point["id"], "WRONG_NUMBER", at + timedelta(minutes=minutes))
        found = await add_point(client, desk, kind="phone", value="5512345678")
        assert found.json()["verification_status"] == "invalid"
        given = await add_point(client, desk, kind="phone", value="5512345678", source="debtor")
        assert given.json()["verification_status"] == "unverified"
        assert given.json()["source"] == "debtor"


def seeded(point: ContactPoint, at: datetime, result: str, **changes: object) -> Interaction:
    fields: dict[str, object] = {
        "account_id": point.account_id,
        "partner_id": point.partner_id,
        "debtor_id": point.debtor_id,
        "channel": "call",
        "direction": "outbound",
        "contact_point_id": point.id,
        "party": "debtor" if result.startswith("RPC") else "none",
        "result_code": result,
        "started_at": at,
        "pack_version": "MX-test",
        "compliance": {"allowed": True, "reasons": []},
        "created_by": "test",
    }
    return Interaction(**(fields | changes))  # type: ignore[arg-type]


class TestContactability:
    @pytest.fixture
    async def history(self, session, desk):
        """A Tijuana phone and a phone without a zone (the partner's, Mexico City), with
        outbound calls over several days; one inbound call and one corrected call that do
        not count."""
        account = desk["account"]
        points = {}
        for name, value, zone in (
            ("tijuana", "+526641234567", "America/Tijuana"),
            ("plain", "+525512345678", None),
            ("silent", "+523312345678", None),
        ):
            points[name] = ContactPoint(
                partner_id=account.partner_id,
                account_id=account.id,
                debtor_id=account.debtor_id,
                kind="phone",
                value=value,
                time_zone=zone,
                source="skip_trace",
            )
        session.add_all(points.values())
        await session.flush()
        tj, plain = points["tijuana"], points["plain"]
        calls = [
            # Tijuana: RPCs at 19h local twice, at 9h twice: tie → 9; 6 attempts, 4 RPC.
            seeded(tj, local(TIJUANA, 2026, 11, 9, 19, 10), "RPC"),
            seeded(tj, local(TIJUANA, 2026, 11, 10, 19, 50), "RPC_PTP"),
            seeded(tj, local(TIJUANA, 2026, 11, 11, 9, 5), "RPC_CALLBACK"),
            seeded(tj, local(TIJUANA, 2026, 11, 12, 9, 59), "RPC_REFUSE"),
            seeded(tj, local(TIJUANA, 2026, 11, 13, 8, 0), "NO_ANSWER"),
            seeded(tj, local(TIJUANA, 2026, 11, 13, 14, 0), "VOICEMAIL"),
            # Mexico City (the partner's zone): 3 attempts, 1 RPC at 20h local.
            seeded(plain, local(CDMX, 2026, 11, 9, 20, 30), "RPC"),
            seeded(plain, local(CDMX, 2026, 11, 10, 8, 0), "NO_ANSWER"),
            seeded(plain, local(CDMX, 2026, 11, 11, 8, 0), "BUSY"),
            # The debtor calling in is not an attempt.
            seeded(plain, local(CDMX, 2026, 11, 12, 7, 0), "RPC", direction="inbound"),
        ]
        session.add_all(calls)
        await session.flush()
        # A call at 7h recorded as RPC, then corrected to NO_ANSWER: only the correction counts.
        wrong = seeded(plain, local(CDMX, 2026, 11, 13, 7, 0), "RPC")
        session.add(wrong)
        await session.flush()
        session.add(seeded(plain, local(CDMX, 2026, 11, 13, 7, 0), "NO_ANSWER", amends_id=wrong.id))
        await session.flush()
        return points

    async def test_scores_and_best_hours_from_the_history(self, session, desk, history):
        views = await contact_points_of(session, desk["account"].debtor_id, [desk["account"].id])
        by_id = {v.id: v for v in views}
        tj = by_id[history["tijuana"].id]
        assert (tj.attempts, tj.right_party_contacts, tj.contactability, tj.best_hour) == (
            6,
            4,
            Decimal("0.67"),
            9,
        )
        plain = by_id[history["plain"].id]
        assert (plain.attempts, plain.right_party_contacts, plain.best_hour) == (4, 1, 20)
        assert plain.contactability == Decimal("0.25")
        silent = by_id[history["silent"].id]
        assert (silent.attempts, silent.contactability, silent.best_hour) == (0, None, None)

    async def test_the_profile_reads_them_in_a_fixed_number_of_statements(
        self, session, desk, history, engine
    ):
        account = desk["account"]
        statements: list[str] = []

        def count(conn, cursor, statement, *args: object) -> None:
            statements.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            await contact_points_of(session, account.debtor_id, [account.id])
            few = len(statements)
            session.add_all(
                ContactPoint(
                    partner_id=account.partner_id,
                    account_id=account.id,
                    debtor_id=account.debtor_id,
                    kind="email",
                    value=f"extra{n}@mail.com",
                )
                for n in range(10)
            )
            await session.flush()
            statements.clear()
            views = await contact_points_of(session, account.debtor_id, [account.id])
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert len(views) == 13
        assert len(statements) == few == 2

    async def test_a_foreign_account_shows_nothing(self, session, desk, history):
        other = await make_account(session, await make_partner(session))
        assert await contact_points_of(session, desk["account"].debtor_id, [other.id]) == []
