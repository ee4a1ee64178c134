"""Debtor flags are kept with the account they were raised through: what another creditor's
account brought never reaches a partner system (profile, export, contact-check reasons, KYC,
assignment responses); agency-wide flags still stop contact on every creditor's account,
named as the agency's policy; per-creditor flags stay with their creditor; staff flag only
through an account they may see (app/domain/flags.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, update
from sqlmodel import col, select

from app.domain.flags import AGENCY_SAFETY_FLAG
from app.domain.roles import Role
from app.models.account import Account
from app.models.debtor import ContactPoint, DebtorFlag
from app.models.user import Team, TeamMember
from tests.factories import assert_problem, make_account, make_partner, partner_bearer
from tests.helpers.assignments import process, push_json, row, valid_curp

CDMX = ZoneInfo("America/Mexico_City")
CURP = valid_curp(7)
FLAG_WORDS = ("deceased", "attorney", "insolvency", "cease_contact", AGENCY_SAFETY_FLAG)


def weekday_noon() -> datetime:
    """Noon in Mexico City on the most recent Tuesday at least a day ago: no hour, day or
    frequency rule of Mexico's pack stands in the way."""
    day = datetime.now(CDMX).date() - timedelta(days=1)
    while day.weekday() != 1:
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, 12, tzinfo=CDMX).astimezone(UTC)


@pytest.fixture
async def shared(client, session, settings, make_user, auth_headers):
    """Partners A and B both push the same CURP: one debtor, an account at each. A's account
    is worked by collector A (lead A's team), B's by collector B (lead B's team); A also has
    a second account of the same debtor."""
    partner_a = await make_partner(session)
    partner_b = await make_partner(session)
    system_a = await partner_bearer(session, settings, partner_a)
    system_b = await partner_bearer(session, settings, partner_b)
    for partner, system, refs in (
        (partner_a, system_a, ("A-1", "A-2")),
        (partner_b, system_b, ("B-1",)),
    ):
        rows = [row(ref, 7) for ref in refs]
        await process(session, await push_json(client, system, partner, rows))
    accounts = {
        a.external_ref: a
        for a in (
            await session.scalars(
                select(Account).where(col(Account.partner_id).in_([partner_a.id, partner_b.id]))
            )
        ).all()
    }
    at_a, second_a, at_b = accounts["A-1"], accounts["A-2"], accounts["B-1"]
    assert at_a.debtor_id == at_b.debtor_id == second_a.debtor_id
    people = {}
    for side, worked in (("a", (at_a, second_a)), ("b", (at_b,))):
        collector = await make_user(Role.COLLECTOR)
        lead = await make_user(Role.TEAM_LEAD)
        team = Team(name=f"Equipo {uuid.uuid4().hex[:6]}", lead_id=lead.id)
        session.add(team)
        await session.flush()
        session.add(TeamMember(team_id=team.id, user_id=collector.id))
        await session.execute(
            update(Account)
            .where(col(Account.id).in_([a.id for a in worked]))
            .values(assigned_collector_id=collector.id, assigned_team_id=team.id)
        )
        people[f"collector_{side}"] = auth_headers(collector)
        people[f"lead_{side}"] = auth_headers(lead)
    await session.commit()
    return {
        "debtor_id": at_a.debtor_id,
        "partner_a": partner_a,
        "partner_b": partner_b,
        "at_a": at_a,
        "second_a": second_a,
        "at_b": at_b,
        "system_a": system_a,
        "system_b": system_b,
        "manager": auth_headers(await make_user(Role.MANAGER)),
        **people,
    }


async def flag(client, shared, kind: str, account: str = "at_a", who: str = "manager"):
    return await client.post(
        f"/api/v1/debtors/{shared['debtor_id']}/flags",
        json={"kind": kind, "account_id": str(shared[account].id), "reason": f"Noted: {kind}"},
        headers=shared[who],
    )


async def profile_flags(client, shared, who: str) -> list[dict]:
    response = await client.get(f"/api/v1/debtors/{shared['debtor_id']}", headers=shared[who])
    assert response.status_code == 200, response.text
    return response.json()["flags"]


async def contact_check(client, shared, account: str, who: str) -> dict:
    response = await client.post(
        f"/api/v1/accounts/{shared[account].id}/contact-check",
        json={"channel": "call", "party": "debtor", "at": weekday_noon().isoformat()},
        headers=shared[who],
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestTheFlagRecordsItsAccount:
    async def test_a_flag_set_by_staff_records_the_account_and_partner(
        self, client, session, shared
    ):
        response = await flag(client, shared, "attorney", who="lead_a")
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["account_id"], body["reach"]) == (str(shared["at_a"].id), "agency")
        stored = await session.get_one(DebtorFlag, uuid.UUID(body["id"]))
        assert (stored.account_id, stored.partner_id) == (
            shared["at_a"].id,
            shared["partner_a"].id,
        )

    async def test_an_interaction_result_records_its_account(self, client, session, shared, clock):
        at = weekday_noon()
        clock.now = at + timedelta(minutes=3)  # entered as the call ended
        phone = await session.scalar(
            select(col(ContactPoint.id)).where(
                col(ContactPoint.account_id) == shared["at_a"].id,
                col(ContactPoint.kind) == "phone",
                col(ContactPoint.related_party_id).is_(None),
            )
        )
        response = await client.post(
            f"/api/v1/accounts/{shared['at_a'].id}/interactions",
            json={
                "channel": "call",
                "contact_point_id": str(phone),
                "party": "none",
                "result_code": "DECEASED",
                "started_at": at.isoformat(),
                "ended_at": (at + timedelta(minutes=2)).isoformat(),
                "direction": "outbound",
            },
            headers=shared["collector_a"],
        )
        assert response.status_code == 201, response.text
        [stored] = (
            await session.scalars(
                select(DebtorFlag).where(col(DebtorFlag.debtor_id) == shared["debtor_id"])
            )
        ).all()
        assert (stored.kind, stored.account_id, stored.partner_id) == (
            "deceased",
            shared["at_a"].id,
            shared["partner_a"].id,
        )
        assert await profile_flags(client, shared, "system_b") == []
        check = await contact_check(client, shared, "at_b", "collector_b")
        assert [r["code"] for r in check["reasons"]] == [AGENCY_SAFETY_FLAG]


class TestStaffFlagOnlyThroughAnAccountTheyMaySee:
    async def test_a_lead_cannot_flag_through_another_teams_account(self, client, session, shared):
        # Lead B sees the debtor (through B's account), not A's account.
        response = await flag(client, shared, "deceased", account="at_a", who="lead_b")
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "not_found"
        assert await session.scalar(select(func.count()).select_from(DebtorFlag)) == 0

    async def test_an_account_of_another_debtor_is_404(self, client, session, shared):
        other = await make_account(
            session, shared["partner_b"], assigned_collector_id=None, external_ref="B-other"
        )
        response = await client.post(
            f"/api/v1/debtors/{shared['debtor_id']}/flags",
            json={"kind": "deceased", "account_id": str(other.id), "reason": "Wrong person"},
            headers=shared["manager"],
        )
        assert_problem(response, 404, "not_found")
        assert await session.scalar(select(func.count()).select_from(DebtorFlag)) == 0

    async def test_a_lead_flags_through_their_own_teams_account(self, client, shared):
        response = await flag(client, shared, "deceased", account="at_b", who="lead_b")
        assert response.status_code == 201, response.text
        assert response.json()["account_id"] == str(shared["at_b"].id)

    async def test_the_same_flag_through_another_account_is_its_own_record(self, client, shared):
        assert (await flag(client, shared, "deceased")).status_code == 201
        assert (await flag(client, shared, "deceased")).status_code == 409
        # B's side learns it too: B's system then sees its own record.
        assert (await flag(client, shared, "deceased", account="at_b")).status_code == 201
        [seen] = await profile_flags(client, shared, "system_b")
        assert (seen["kind"], seen["account_id"]) == ("deceased", str(shared["at_b"].id))


class TestAPartnerNeverSeesAnotherCreditorsFlags:
    @pytest.mark.parametrize("kind", ["attorney", "deceased", "insolvency", "cease_contact"])
    async def test_the_profile(self, client, shared, kind):
        assert (await flag(client, shared, kind)).status_code == 201
        assert await profile_flags(client, shared, "system_b") == []
        [own] = await profile_flags(client, shared, "system_a")
        assert (own["kind"], own["account_id"]) == (kind, str(shared["at_a"].id))

    async def test_the_export_is_for_managers_only(self, client, shared):
        assert (await flag(client, shared, "attorney")).status_code == 201
        url = f"/api/v1/debtors/{shared['debtor_id']}/export"
        params = {"reason": "Access request of the debtor"}
        refused = await client.get(url, params=params, headers=shared["system_b"])
        assert_problem(refused, 403, "permission_denied")
        exported = await client.get(url, params=params, headers=shared["manager"])
        assert exported.status_code == 200, exported.text
        [row_] = exported.json()["flags"]
        assert (row_["kind"], row_["account_id"], row_["partner_id"]) == (
            "attorney",
            str(shared["at_a"].id),
            str(shared["partner_a"].id),
        )

    async def test_partners_do_not_run_contact_checks(self, client, shared):
        assert (await flag(client, shared, "deceased")).status_code == 201
        response = await client.post(
            f"/api/v1/accounts/{shared['at_b'].id}/contact-check",
            json={"channel": "call", "party": "debtor"},
            headers=shared["system_b"],
        )
        assert_problem(response, 403, "permission_denied")
        for word in FLAG_WORDS:
            assert word not in response.text

    async def test_kyc_results(self, client, shared):
        for kind in ("attorney", "deceased"):
            assert (await flag(client, shared, kind)).status_code == 201
        response = await client.get(
            "/api/v1/kyc/search", params={"national_id": CURP}, headers=shared["system_b"]
        )
        assert response.status_code == 200, response.text
        [found] = response.json()["items"]
        assert found["debtor_id"] == str(shared["debtor_id"])
        for word in FLAG_WORDS:
            assert word not in response.text

    async def test_assignment_responses(self, client, session, shared):
        assert (await flag(client, shared, "deceased")).status_code == 201
        pushed = await push_json(
            client, shared["system_b"], shared["partner_b"], [row("B-1", 7), row("B-2", 7)]
        )
        await process(session, pushed)
        status = await client.get(
            f"/api/v1/assignments/{pushed.json()['id']}", headers=shared["system_b"]
        )
        assert status.status_code == 200, status.text
        for text in (pushed.text, status.text):
            for word in FLAG_WORDS:
                assert word not in text

    async def test_a_flag_of_unknown_origin_is_staff_knowledge(self, client, session, shared):
        # Older than flags keeping their account, and not attributable by the migration.
        session.add(DebtorFlag(debtor_id=shared["debtor_id"], kind="attorney", set_by="legacy"))
        await session.commit()
        assert await profile_flags(client, shared, "system_a") == []
        assert await profile_flags(client, shared, "system_b") == []
        [seen] = await profile_flags(client, shared, "collector_b")
        assert (seen["kind"], seen["account_id"], seen["reach"]) == ("attorney", None, "agency")


class TestAgencyWideFlagsStopEveryCreditorsContact:
    @pytest.mark.parametrize(
        ("kind", "words"),
        [
            ("deceased", "deceased"),
            ("attorney", "attorney"),
            ("insolvency", "insolvency"),
        ],
    )
    async def test_for_staff_with_the_agency_policy_reason(self, client, shared, kind, words):
        assert (await contact_check(client, shared, "at_b", "collector_b"))["allowed"] is True
        assert (await flag(client, shared, kind)).status_code == 201

        check = await contact_check(client, shared, "at_b", "collector_b")
        assert check["allowed"] is False and check["next_allowed_at"] is None
        [reason] = check["reasons"]
        assert reason["code"] == AGENCY_SAFETY_FLAG and reason["hard"] is True
        # The staff who run the check are told what the agency knows, and that it is policy.
        assert words in reason["message"] and "policy" in reason["message"]
        assert "another creditor" in reason["message"]
        assert reason.get("basis", "policy") == "policy" and reason.get("citation") is None

        # On the account it was raised through, the flag speaks for itself.
        own = await contact_check(client, shared, "at_a", "collector_a")
        assert [r["code"] for r in own["reasons"]] == [kind]

        # Staff working B's account see the flag, not the account it came through.
        [seen] = await profile_flags(client, shared, "collector_b")
        assert (seen["kind"], seen["account_id"], seen["reach"]) == (kind, None, "agency")

    async def test_a_vulnerable_flag_reaches_staff_and_stops_nothing(self, client, shared):
        assert (await flag(client, shared, "vulnerable")).status_code == 201
        assert (await contact_check(client, shared, "at_b", "collector_b"))["allowed"] is True
        assert [f["kind"] for f in await profile_flags(client, shared, "collector_b")] == [
            "vulnerable"
        ]
        assert await profile_flags(client, shared, "system_b") == []

    async def test_worklists_skip_the_account(self, client, shared):
        # The queue checks contact now; flagged, B's account is never offered.
        assert (await flag(client, shared, "deceased")).status_code == 201
        response = await client.get("/api/v1/worklists/me", headers=shared["collector_b"])
        assert response.status_code == 200, response.text
        assert str(shared["at_b"].id) not in response.text


class TestPerCreditorFlagsStayWithTheirCreditor:
    @pytest.mark.parametrize("kind", ["cease_contact", "dispute"])
    async def test_another_creditor_is_not_affected(self, client, shared, kind):
        assert (await flag(client, shared, kind)).status_code == 201
        check = await contact_check(client, shared, "at_b", "collector_b")
        assert check["allowed"] is True, check
        assert await profile_flags(client, shared, "collector_b") == []
        assert await profile_flags(client, shared, "system_b") == []

    async def test_cease_contact_reaches_the_creditors_other_account(self, client, shared):
        assert (await flag(client, shared, "cease_contact")).status_code == 201
        check = await contact_check(client, shared, "second_a", "collector_a")
        [reason] = check["reasons"]
        assert reason["code"] == "cease_contact" and reason["hard"] is True
        assert "another account of this creditor" in reason["message"]
        assert reason.get("basis", "policy") == "policy"
        seen = await profile_flags(client, shared, "system_a")
        assert [(f["kind"], f["reach"]) for f in seen] == [("cease_contact", "creditor")]

    async def test_a_dispute_is_about_its_debt_only(self, client, shared):
        assert (await flag(client, shared, "dispute")).status_code == 201
        check = await contact_check(client, shared, "second_a", "collector_a")
        assert "dispute" not in {r["code"] for r in check["reasons"]}
        disputed = await contact_check(client, shared, "at_a", "collector_a")
        assert "dispute" in {r["code"] for r in disputed["reasons"]}


class TestClearing:
    async def test_a_manager_clears_and_every_account_is_free_again(self, client, shared):
        created = (await flag(client, shared, "deceased")).json()
        assert (await contact_check(client, shared, "at_b", "collector_b"))["allowed"] is False
        cleared = await client.post(
            f"/api/v1/debtors/{shared['debtor_id']}/flags/{created['id']}/clear",
            json={"reason": "Wrong person reported"},
            headers=shared["manager"],
        )
        assert cleared.status_code == 200, cleared.text
        assert (await contact_check(client, shared, "at_b", "collector_b"))["allowed"] is True
