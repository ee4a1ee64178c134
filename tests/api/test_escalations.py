"""Escalations close with an outcome of the catalogue (and a note), take notes from the
collector who escalated and from the staff handling them, and answer specific problem
codes when they cannot."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from app.domain.roles import Role
from app.models.audit import AuditEvent
from app.models.escalation import Escalation, EscalationNote
from tests.factories import assert_problem, make_account, make_partner, make_team, partner_bearer

ESCALATIONS = "/api/v1/escalations"


@pytest.fixture
async def desk(session, settings, make_user, auth_headers):
    partner = await make_partner(session)
    lead, collector, colleague = (
        await make_user(Role.TEAM_LEAD),
        await make_user(Role.COLLECTOR),
        await make_user(Role.COLLECTOR),
    )
    await make_team(session, lead, [collector, colleague])
    account = await make_account(session, partner, dpd=45, assigned_collector_id=collector.id)
    await make_account(session, partner, dpd=45, assigned_collector_id=colleague.id)
    await session.commit()
    return {
        "account": account,
        "lead": auth_headers(lead),
        "collector": auth_headers(collector),
        "colleague": auth_headers(colleague),
        "partner": await partner_bearer(session, settings, partner),
    }


async def escalate(client, desk) -> str:
    response = await client.post(
        ESCALATIONS,
        json={"account_id": str(desk["account"].id), "reason": "Asks for a supervisor"},
        headers=desk["collector"],
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def count(session, model) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestOutcomes:
    async def test_resolved_with_an_outcome_of_the_catalogue_and_its_note(self, client, desk):
        escalation_id = await escalate(client, desk)
        response = await client.post(
            f"{ESCALATIONS}/{escalation_id}/resolve",
            json={"outcome": "plan_authorised", "note": "Six installments, first on the 15th"},
            headers=desk["lead"],
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["outcome"]) == ("resolved", "plan_authorised")
        assert body["outcome_note"] == "Six installments, first on the 15th"

    async def test_free_text_is_not_an_outcome(self, client, session, desk):
        escalation_id = await escalate(client, desk)
        response = await client.post(
            f"{ESCALATIONS}/{escalation_id}/resolve",
            json={"outcome": "Called him back"},
            headers={**desk["lead"], "Accept-Language": "es"},
        )
        assert_problem(response, 422, "validation_failed")
        assert [e["field"] for e in response.json()["errors"]] == ["body.outcome"]
        escalation = await session.get(Escalation, escalation_id, populate_existing=True)
        assert escalation is not None and escalation.status == "open"

    async def test_other_needs_the_note_to_say_what(self, client, session, desk):
        escalation_id = await escalate(client, desk)
        response = await client.post(
            f"{ESCALATIONS}/{escalation_id}/resolve",
            json={"outcome": "other"},
            headers=desk["lead"],
        )
        assert_problem(response, 422, "invalid_input")
        assert [e["field"] for e in response.json()["errors"]] == ["body.note"]
        escalation = await session.get(Escalation, escalation_id, populate_existing=True)
        assert escalation is not None and escalation.outcome is None

    async def test_taking_twice_and_resolving_twice_say_why(self, client, desk):
        escalation_id = await escalate(client, desk)
        url = f"{ESCALATIONS}/{escalation_id}"
        assert (await client.post(f"{url}/take", headers=desk["lead"])).status_code == 200
        again = await client.post(f"{url}/take", headers={**desk["lead"], "Accept-Language": "es"})
        assert again.status_code == 409
        assert again.json()["code"] == "escalation_not_open"
        assert again.json()["detail"].endswith("este ya está tomado.")
        done = await client.post(
            f"{url}/resolve", json={"outcome": "no_action"}, headers=desk["lead"]
        )
        assert done.status_code == 200, done.text
        twice = await client.post(
            f"{url}/resolve", json={"outcome": "no_action"}, headers=desk["lead"]
        )
        assert (twice.status_code, twice.json()["code"]) == (409, "escalation_resolved")


class TestNotes:
    async def test_the_collector_who_escalated_adds_information_and_it_is_audited(
        self, client, session, desk
    ):
        escalation_id = await escalate(client, desk)
        url = f"{ESCALATIONS}/{escalation_id}"
        added = await client.post(
            f"{url}/notes",
            json={"note": "He called back:\nnew number 55 1234 5678"},
            headers=desk["collector"],
        )
        assert added.status_code == 201, added.text
        by_lead = await client.post(
            f"{url}/notes", json={"note": "Spoke to the creditor"}, headers=desk["lead"]
        )
        assert by_lead.status_code == 201, by_lead.text
        read = await client.get(url, headers=desk["collector"])
        assert read.status_code == 200, read.text
        assert [n["note"] for n in read.json()["notes"]] == [
            "He called back:\nnew number 55 1234 5678",
            "Spoke to the creditor",
        ]
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "escalation.note_added",
                AuditEvent.entity_id == escalation_id,
            )
        )
        assert audited == 2

    async def test_another_collector_and_partners_may_not_and_nothing_is_written(
        self, client, session, desk
    ):
        escalation_id = await escalate(client, desk)
        url = f"{ESCALATIONS}/{escalation_id}"
        notes = await count(session, EscalationNote)
        hidden = await client.post(f"{url}/notes", json={"note": "x"}, headers=desk["colleague"])
        assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
        refused = await client.post(f"{url}/notes", json={"note": "x"}, headers=desk["partner"])
        assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
        unread = await client.get(url, headers=desk["partner"])
        assert unread.status_code == 403
        assert await count(session, EscalationNote) == notes

    async def test_a_resolved_escalation_takes_no_more_notes(self, client, session, desk):
        escalation_id = await escalate(client, desk)
        url = f"{ESCALATIONS}/{escalation_id}"
        await client.post(f"{url}/resolve", json={"outcome": "no_action"}, headers=desk["lead"])
        late = await client.post(f"{url}/notes", json={"note": "late"}, headers=desk["collector"])
        assert (late.status_code, late.json()["code"]) == (409, "escalation_resolved")
        assert await count(session, EscalationNote) == 0


def test_escalations_are_opened_only_by_their_own_service():
    """One writer for the table (issue 22): collectors, contact results and the nightly
    plan and promise jobs all open escalations through app/services/escalations.py."""
    import re
    from pathlib import Path

    import app

    root = Path(app.__file__).parent
    writers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if re.search(r"INSERT INTO escalation\b|[^\w]Escalation\(\s*\n?\s*account_id",
                     path.read_text(encoding="utf-8"))
    )  # fmt: skip
    assert writers == ["services/escalations.py"]
