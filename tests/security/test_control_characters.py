"""Header-looking text (issue 17): a CR/LF in a document title would read as a new header
line or CSV row once the title leaves in a download, an export or a PDF. Every shared text
type (PlainText, TrimmedText) refuses control characters with a 422 naming the field, in
English and Spanish, and nothing is written."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import func, select

from app.domain.roles import Role
from app.i18n import translate
from app.models.audit import AuditEvent
from app.models.document import AccountDocument
from app.models.interaction import Interaction
from app.models.payment import Payment
from app.models.user import Team
from app.problems import FIELD_MESSAGES
from app.schemas.common import CONTROL_CHARACTER_ERROR, NOTE_CONTROL_CHARACTER_ERROR
from tests.factories import assert_problem, make_account, make_partner
from tests.helpers.documents import PDF
from tests.helpers.interactions import recent_weekday_noon, record, rpc
from tests.helpers.payments import body

# C0 (CR, LF, TAB, ESC, NUL), DEL, C1 (NEL, CSI) and the Unicode line/paragraph separators.
CONTROLS = ["\r\n", "\n", "\r", "\t", "\x1b", "\x00", "\x7f", "\x85", "\x9b", "\u2028", "\u2029"]


async def count(session, model) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def the_only_error(response, field: str) -> dict:
    assert_problem(response, 422, "validation_failed")
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field], errors
    assert errors[0]["type"] == CONTROL_CHARACTER_ERROR
    return errors[0]


@pytest.fixture
async def collector_account(session, make_user, auth_headers):
    partner = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    account = await make_account(session, partner, dpd=40, assigned_collector_id=collector.id)
    await session.commit()
    return account, auth_headers(collector)


class TestDocumentTitles:
    @pytest.mark.parametrize("control", CONTROLS)
    async def test_a_title_with_a_control_character_is_refused_and_nothing_is_stored(
        self, client, session, settings, collector_account, control
    ):
        account, headers = collector_account
        documents, events = await count(session, AccountDocument), await count(session, AuditEvent)
        response = await client.post(
            f"/api/v1/accounts/{account.id}/documents",
            params={"kind": "signed_agreement", "title": f"INE{control}X-Injected: yes"},
            content=PDF,
            headers={**headers, "Content-Type": "application/pdf"},
        )
        error = the_only_error(response, "query.title")
        assert "control characters" in error["message"]
        assert await count(session, AccountDocument) == documents
        assert await count(session, AuditEvent) == events
        stored = settings.data_dir / "documents"
        assert not stored.exists() or not any(p.is_file() for p in stored.rglob("*"))

    async def test_a_plain_title_is_accepted(self, client, collector_account):
        account, headers = collector_account
        response = await client.post(
            f"/api/v1/accounts/{account.id}/documents",
            params={"kind": "signed_agreement", "title": "INE frente"},
            content=PDF,
            headers={**headers, "Content-Type": "application/pdf"},
        )
        assert response.status_code == 201, response.text


class TestSharedTextTypes:
    @pytest.mark.parametrize("control", ["\r\n", "\u2028", "\x85"])
    async def test_trimmed_text_refuses_them_in_spanish_too(
        self, client, session, make_user, auth_headers, control
    ):
        admin = await make_user(Role.ADMIN)
        teams, events = await count(session, Team), await count(session, AuditEvent)
        response = await client.post(
            "/api/v1/teams",
            json={"name": f"Equipo{control}Norte"},
            headers={**auth_headers(admin), "Accept-Language": "es-MX"},
        )
        error = the_only_error(response, "body.name")
        assert error["message"] == translate(FIELD_MESSAGES[CONTROL_CHARACTER_ERROR], "es")
        assert await count(session, Team) == teams
        assert await count(session, AuditEvent) == events

    async def test_plain_text_refuses_them_in_a_payer_reference(self, client, session, desk):
        payments = await count(session, Payment)
        response = await client.post(
            "/api/v1/payments",
            json=body(desk["mine"], payer_reference="SPEI-1\r\nSPEI-2"),
            headers={**desk["collector"], "Idempotency-Key": "ctl-1"},
        )
        error = the_only_error(response, "body.payer_reference")
        assert "U+000D" in error["message"]
        assert await count(session, Payment) == payments


class TestNotes:
    """A PCR note is written by a person on the phone and runs over several lines: line
    breaks and tabs are kept (CR LF stored as LF), every other control is refused."""

    async def test_a_multi_line_pcr_note_is_kept_with_one_kind_of_line_break(self, client, floor):
        note = "Cut hours at the factory.\r\nWife sells food;\ttwo children.\rCall back."
        body = rpc(recent_weekday_noon(), floor["points"]["cdmx"].id)
        body["pcr"] = {**body["pcr"], "circumstance": note}
        response = await record(client, floor, body)
        assert response.status_code == 201, response.text
        stored = response.json()["pcr"]["circumstance"]
        assert stored == "Cut hours at the factory.\nWife sells food;\ttwo children.\nCall back."

    @pytest.mark.parametrize("control", ["\x1b", "\x00", "\x85", "\u2028", "\x0b"])
    async def test_other_controls_in_a_note_are_refused_in_spanish_and_nothing_is_stored(
        self, client, session, floor, control
    ):
        interactions = await count(session, Interaction)
        body = rpc(recent_weekday_noon(), floor["points"]["cdmx"].id)
        body["pcr"] = {**body["pcr"], "resolution": f"Pays on the 15th{control}[2J"}
        floor["clock"].now = datetime.fromisoformat(str(body["ended_at"])) + timedelta(minutes=1)
        response = await client.post(
            f"/api/v1/accounts/{floor['account'].id}/interactions",
            json=body,
            headers={**floor["collector"], "Accept-Language": "es-MX"},
        )
        assert_problem(response, 422, "validation_failed")
        errors = response.json()["errors"]
        assert [e["field"] for e in errors] == ["body.pcr.resolution"], errors
        assert errors[0]["type"] == NOTE_CONTROL_CHARACTER_ERROR
        assert errors[0]["message"] == translate(FIELD_MESSAGES[NOTE_CONTROL_CHARACTER_ERROR], "es")
        assert await count(session, Interaction) == interactions
