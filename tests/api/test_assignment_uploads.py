"""Large uploads: a multipart file bigger than the form parser's in-memory part size, and the
body limit that applies to pushes rather than the API's general one."""

from __future__ import annotations

import csv
import io
import json
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.domain.roles import Role
from app.models.account import Account
from app.models.assignment import Assignment
from app.services import assignments as service
from tests.factories import make_partner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from common import HEADER, rows


def csv_text(count: int, prefix: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows(count, as_of=date.today() - timedelta(days=1), prefix=prefix))
    return buffer.getvalue().encode()


async def test_multipart_file_of_several_megabytes_is_processed(
    client, session, make_user, auth_headers
):
    partner = await make_partner(session)
    headers = auth_headers(await make_user(Role.MANAGER))
    body = csv_text(12_000, "MP")
    assert len(body) > 3 * 1024 * 1024
    response = await client.post(
        f"/api/v1/partners/{partner.id}/assignments",
        files={"file": ("cartera.csv", body, "text/csv")},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 202, response.text
    done = await service.process_assignment(session, uuid.UUID(response.json()["id"]))
    assert (done.status, done.received, done.created) == ("completed", 12_000, 12_000)
    stored = await session.scalar(
        select(func.count()).select_from(Account).where(Account.partner_id == partner.id)
    )
    assert stored == 12_000


async def test_push_may_exceed_the_general_body_limit(
    client, session, make_user, auth_headers, app
):
    partner = await make_partner(session)
    headers = auth_headers(await make_user(Role.MANAGER))
    limit = app.state.settings.max_body_bytes
    body = csv_text(max(1, limit // 250), "BL")
    assert len(body) > limit
    pushed = await client.post(
        f"/api/v1/partners/{partner.id}/assignments",
        content=body,
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "text/csv"},
    )
    assert pushed.status_code == 202, pushed.text
    # Any other operation keeps the general limit.
    other = await client.post(
        "/api/v1/teams",
        content=b"{" + b" " * (limit + 10) + b"}",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert_problem(other, 413, "payload_too_large")


# ---------------------------------------------------------------------------------------
# What a review of the intake turned up: each was a 500, a whole push failing for one row,
# or one partner's data reaching another.

from tests.factories import assert_problem  # noqa: E402
from tests.helpers.assignments import (  # noqa: E402
    csv_bytes,
    flat_row,
    process,
    push_json,
    push_raw,
    row,
)


async def manager_headers(make_user, auth_headers) -> dict[str, str]:
    return auth_headers(await make_user(Role.MANAGER))


async def test_a_partner_push_never_renames_another_partners_debtor(
    client, session, make_user, auth_headers
):
    headers = await manager_headers(make_user, auth_headers)
    bank, retailer = await make_partner(session), await make_partner(session)
    await process(session, await push_json(client, headers, bank, [row("B-1", 7)]))
    renamed = row("R-1", 7)
    renamed["debtor"] = {**renamed["debtor"], "first_names": "Otro", "last_names": "Nombre"}
    await process(session, await push_json(client, headers, retailer, [renamed]))

    listed = await client.get(f"/api/v1/accounts?partner_id={bank.id}", headers=headers)
    names = [a["debtor"]["full_name"] for a in listed.json()["items"]]
    assert names == ["Juan Pérez López"]
    other = await client.get(f"/api/v1/accounts?partner_id={retailer.id}", headers=headers)
    assert [a["debtor"]["full_name"] for a in other.json()["items"]] == ["Otro Nombre"]
    # Still one person: the same debtor behind both accounts.
    assert listed.json()["items"][0]["debtor"]["id"] == other.json()["items"][0]["debtor"]["id"]


async def test_csv_with_bare_carriage_returns_is_read(client, session, make_user, auth_headers):
    headers = await manager_headers(make_user, auth_headers)
    partner = await make_partner(session)
    body = csv_bytes([flat_row("CR-1", 1), flat_row("CR-2", 2)]).replace(b"\r\n", b"\r")
    done = await process(session, await push_raw(client, headers, partner, body, "text/csv"))
    assert (done.status, done.created) == ("completed", 2)


async def test_a_semicolon_separated_csv_is_read(client, session, make_user, auth_headers):
    """Excel in Spanish or Portuguese saves "CSV" with semicolons; the file is read as it is,
    with the same rows as the comma-separated one."""
    headers = await manager_headers(make_user, auth_headers)
    partner = await make_partner(session)
    body = csv_bytes([flat_row("SC-1", 1), flat_row("SC-2", 2, debtor_last_names="Pérez; López")])
    text = list(csv.reader(io.StringIO(body.decode())))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows(text)
    done = await process(
        session, await push_raw(client, headers, partner, buffer.getvalue().encode(), "text/csv")
    )
    assert (done.status, done.created, done.rejected) == ("completed", 2, 0)
    names = await session.scalars(
        select(Account.external_ref).where(Account.partner_id == partner.id)
    )
    assert sorted(names.all()) == ["SC-1", "SC-2"]


async def test_a_bad_header_with_bare_carriage_returns_is_a_422(
    client, session, make_user, auth_headers
):
    headers = await manager_headers(make_user, auth_headers)
    partner = await make_partner(session)
    response = await push_raw(
        client, headers, partner, b"external_ref,product_type\rA,B\r", "text/csv"
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unreadable_upload"


async def test_unstorable_text_rejects_the_row_not_the_push(
    client, session, make_user, auth_headers
):
    headers = await manager_headers(make_user, auth_headers)
    partner = await make_partner(session)
    nul_ref = row("A\u0000B", 1, principal="-1")
    surrogate = row("S-1", 2)
    surrogate["debtor"] = {**surrogate["debtor"], "first_names": "Ju\ud800an"}
    body = json.dumps({"rows": [nul_ref, surrogate, row("OK-1", 3)]}).encode()
    done = await process(
        session, await push_raw(client, headers, partner, body, "application/json")
    )
    assert (done.status, done.created, done.rejected) == ("completed_with_errors", 1, 2)
    page = await client.get(f"/api/v1/assignments/{done.id}/rejections", headers=headers)
    fields = {(r["row_number"], r["field"]) for r in page.json()["items"]}
    assert (2, "debtor.first_names") in fields
    assert any(r["row_number"] == 1 for r in page.json()["items"])


async def test_a_push_sent_before_a_recall_does_not_undo_it(
    client, session, make_user, auth_headers
):
    headers = await manager_headers(make_user, auth_headers)
    partner = await make_partner(session)
    await process(session, await push_json(client, headers, partner, [row("RACE-1", 4)]))
    queued = await push_json(client, headers, partner, [row("RACE-1", 4, total="1120.50")])
    assert queued.status_code == 202
    recalled = await client.post(
        f"/api/v1/partners/{partner.id}/recalls",
        json={"external_refs": ["RACE-1"]},
        headers=headers,
    )
    assert recalled.json()["recalled"] == 1
    done = await process(session, queued)
    assert (done.rejected, done.updated) == (1, 0)
    account = await session.scalar(select(Account).where(Account.external_ref == "RACE-1"))
    assert account is not None and account.status == "recalled"
    page = await client.get(f"/api/v1/assignments/{done.id}/rejections", headers=headers)
    assert "recalled after this push" in page.json()["items"][0]["message"]
    spanish = await client.get(
        f"/api/v1/assignments/{done.id}/rejections", headers=headers | {"Accept-Language": "es"}
    )
    assert spanish.json()["items"][0]["message"] == (
        "la cuenta fue retirada después de enviar esta asignación"
    )


async def test_a_line_too_long_fails_the_push_with_a_reason(
    client, session, make_user, auth_headers
):
    headers = await manager_headers(make_user, auth_headers)
    partner = await make_partner(session)
    body = csv_bytes([flat_row("L-1", 1)]) + b"," * (70 * 1024) + b"\r\n"
    done = await process(session, await push_raw(client, headers, partner, body, "text/csv"))
    assert done.status == "failed"
    assert "longer than" in (done.failure or "")
    read = await client.get(
        f"/api/v1/assignments/{done.id}", headers=headers | {"Accept-Language": "pt-BR"}
    )
    assert read.json()["failure"] == "a linha 3 tem mais de 65536 caracteres"
    assert (
        await session.scalar(
            select(func.count()).select_from(Account).where(Account.partner_id == partner.id)
        )
        == 0
    )


async def test_debtor_ids_must_be_of_the_partners_country(client, session, make_user, auth_headers):
    headers = await manager_headers(make_user, auth_headers)
    retailer = await make_partner(session, country="CO", currency="COP")
    mexican = row("CO-1", 1, currency="COP")
    done = await process(session, await push_json(client, headers, retailer, [mexican]))
    assert (done.created, done.rejected) == (0, 1)
    page = await client.get(f"/api/v1/assignments/{done.id}/rejections", headers=headers)
    problem = page.json()["items"][0]
    assert problem["field"] == "debtor.national_id_type"
    assert "one of CC, NIT for CO" in problem["message"]


async def test_no_push_or_recall_for_an_inactive_partner(client, session, make_user, auth_headers):
    headers = await manager_headers(make_user, auth_headers)
    partner = await make_partner(session, is_active=False)
    pushed = await push_json(client, headers, partner, [row("IN-1", 1)])
    assert_problem(pushed, 409, "partner_inactive")
    recalled = await client.post(
        f"/api/v1/partners/{partner.id}/recalls", json={"external_refs": ["IN-1"]}, headers=headers
    )
    assert_problem(recalled, 409, "partner_inactive")
    assert await session.scalar(select(func.count()).select_from(Assignment)) == 0
