"""A partner's refresh of an account reconciles its contact data instead of replacing it:
phones sent again keep their row (so the interactions made on them, their verification and
their history stay), references sent again keep theirs with what collectors added, and what
the partner withdraws is removed without losing the interactions that used it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from app.domain.roles import Role
from app.models.account import Account
from app.models.debtor import ContactPoint, RelatedParty
from app.models.interaction import Interaction
from tests.helpers.assignments import add_partner, process, push_json, row


@pytest.fixture
async def manager(make_user, auth_headers):
    return auth_headers(await make_user(Role.MANAGER))


async def points(session, account_id):
    return (
        await session.scalars(
            select(ContactPoint)
            .where(col(ContactPoint.account_id) == account_id)
            .execution_options(populate_existing=True)
        )
    ).all()


async def test_a_refresh_keeps_the_phones_interactions_were_made_on(client, session, manager):
    partner = await add_partner(session)
    await process(session, await push_json(client, manager, partner, [row("K-1", 5)]))
    account = await session.scalar(select(Account).where(Account.partner_id == partner.id))
    phone = next(
        p for p in await points(session, account.id)
        if p.kind == "phone" and p.related_party_id is None
    )  # fmt: skip
    phone.verification_status = "verified"
    call = Interaction(
        account_id=account.id, partner_id=partner.id, debtor_id=account.debtor_id,
        channel="call", direction="outbound", contact_point_id=phone.id, party="debtor",
        result_code="RPC", started_at=datetime.now(UTC), pack_version="MX-test",
        created_by="test", compliance={},
    )  # fmt: skip
    session.add(call)
    await session.commit()

    changed = row("K-1", 5, past_due_amount="250.00")
    done = await process(session, await push_json(client, manager, partner, [changed]))
    assert (done.status, done.updated) == ("completed", 1)
    kept = {p.id: p for p in await points(session, account.id)}
    assert phone.id in kept
    assert kept[phone.id].verification_status == "verified"

    # The partner stops sending that phone: it goes, the interaction stays, unlinked.
    withdrawn = row("K-1", 5, past_due_amount="200.00")
    withdrawn["debtor"] = {**withdrawn["debtor"], "phones": ["81 8765 4321"]}
    done = await process(session, await push_json(client, manager, partner, [withdrawn]))
    assert (done.status, done.updated) == ("completed", 1)
    values = {p.value for p in await points(session, account.id) if p.related_party_id is None}
    assert "+525512345678" not in values and "+528187654321" in values
    again = await session.get(Interaction, call.id, populate_existing=True)
    assert again is not None and again.contact_point_id is None


async def test_a_refresh_keeps_what_collectors_added_to_a_reference(client, session, manager):
    partner = await add_partner(session)
    await process(session, await push_json(client, manager, partner, [row("K-2", 6)]))
    account = await session.scalar(select(Account).where(Account.partner_id == partner.id))
    reference = await session.scalar(
        select(RelatedParty).where(
            col(RelatedParty.account_id) == account.id, col(RelatedParty.kind) == "reference"
        )
    )
    assert reference is not None
    session.add(
        ContactPoint(
            partner_id=partner.id, account_id=account.id, debtor_id=account.debtor_id,
            related_party_id=reference.id, kind="phone", value="+523398765432",
            source="skip_trace",
        )
    )  # fmt: skip
    await session.commit()

    changed = row("K-2", 6, past_due_amount="250.00")
    # The same reference, written in capitals this time.
    changed["references"] = [
        {"full_name": "ANA PÉREZ", "relationship": "sister", "phones": ["3312345678"]}
    ]
    done = await process(session, await push_json(client, manager, partner, [changed]))
    assert (done.status, done.updated) == ("completed", 1)
    parties = (
        await session.scalars(
            select(RelatedParty)
            .where(col(RelatedParty.account_id) == account.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    assert reference.id in {p.id for p in parties}
    of_reference = {
        (p.value, p.source) for p in await points(session, account.id)
        if p.related_party_id == reference.id
    }  # fmt: skip
    assert of_reference == {("+523312345678", "partner"), ("+523398765432", "skip_trace")}


async def test_the_same_address_in_other_case_is_one_point(client, session, manager):
    partner = await add_partner(session)
    await process(session, await push_json(client, manager, partner, [row("K-3", 7)]))
    account = await session.scalar(select(Account).where(Account.partner_id == partner.id))
    before = {p.id for p in await points(session, account.id) if p.kind == "address"}
    changed = row("K-3", 7, past_due_amount="250.00")
    changed["debtor"] = {
        **changed["debtor"],
        "addresses": [{"line": "AV.  REFORMA 1", "state": "Sonora", "postal_code": "83000"}],
    }
    await process(session, await push_json(client, manager, partner, [changed]))
    after = {p.id for p in await points(session, account.id) if p.kind == "address"}
    assert after == before
