"""Consents in the partner's portfolio push: source partner_file with the partner's
reference (Ley 2300 de 2023 art. 2: in Colombia only authorised channels are used)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from app.domain.roles import Role
from app.models.debtor import ContactConsent
from tests.helpers.assignments import (
    FLAT_HEADER,
    TODAY,
    accounts_of,
    add_partner,
    csv_bytes,
    flat_row,
    process,
    push_json,
    push_raw,
    row,
)


async def consents_of(session, partner) -> dict[str, ContactConsent]:
    found = await session.scalars(
        select(ContactConsent)
        .where(col(ContactConsent.partner_id) == partner.id)
        .execution_options(populate_existing=True)
    )
    return {c.channel: c for c in found}


def with_consents(ref: str, n: int, consents: list[dict]) -> dict:
    data = row(ref, n)
    data["debtor"] = {**data["debtor"], "consents": consents}
    return data


async def test_a_json_push_stores_consents_with_the_partners_reference(
    client, session, make_user, auth_headers
):
    manager = auth_headers(await make_user(Role.MANAGER))
    partner = await add_partner(session)
    given = (TODAY - timedelta(days=10)).isoformat()
    rows = [
        with_consents(
            "C-1",
            1,
            [{"channel": "whatsapp", "partner_reference": "AUT-77", "given_on": given}],
        ),
        with_consents("C-2", 2, [{"channel": "sms"}]),  # a grant names its record
    ]
    done = await process(session, await push_json(client, manager, partner, rows))
    assert (done.created, done.rejected) == (1, 1)
    rejected = await client.get(f"/api/v1/assignments/{done.id}/rejections", headers=manager)
    assert rejected.json()["items"][0]["field"] == "debtor.consents[0].partner_reference"
    consent = (await consents_of(session, partner))["whatsapp"]
    account = (await accounts_of(session, partner))["C-1"]
    assert (consent.debtor_id, consent.status, consent.source) == (
        account.debtor_id,
        "granted",
        "partner_file",
    )
    assert consent.partner_reference == "AUT-77"
    assert consent.evidence_interaction_id is None
    assert consent.recorded_by == f"assignment:{done.id}"


async def test_a_csv_push_reads_channel_reference_pairs(client, session, make_user, auth_headers):
    manager = auth_headers(await make_user(Role.MANAGER))
    partner = await add_partner(session)
    data = flat_row("F-1", 3, debtor_consents="call=AUT-1|sms=AUT-2")
    body = csv_bytes([data], [*FLAT_HEADER, "debtor_consents"])
    await process(session, await push_raw(client, manager, partner, body, "text/csv"))
    found = await consents_of(session, partner)
    assert {c: (v.status, v.partner_reference) for c, v in found.items()} == {
        "call": ("granted", "AUT-1"),
        "sms": ("granted", "AUT-2"),
    }


async def test_the_debtors_later_opt_out_stands_against_a_re_push(
    client, session, make_user, auth_headers
):
    manager = auth_headers(await make_user(Role.MANAGER))
    partner = await add_partner(session)
    consents = [{"channel": "call", "partner_reference": "AUT-1"}]
    await process(
        session, await push_json(client, manager, partner, [with_consents("O-1", 4, consents)])
    )
    account = (await accounts_of(session, partner))["O-1"]
    revoked = await client.put(
        f"/api/v1/accounts/{account.id}/consents/call",
        json={"status": "opted_out"},
        headers=manager,
    )
    assert revoked.status_code == 200, revoked.text
    # The partner sends the row again, changed, with the same (undated) grant.
    again = with_consents("O-1", 4, consents)
    again["interest"], again["total"] = "130.50", "1130.50"
    await process(session, await push_json(client, manager, partner, [again]))
    consent = (await consents_of(session, partner))["call"]
    assert (consent.status, consent.source) == ("opted_out", "debtor_request")
