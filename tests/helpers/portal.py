"""Helpers shared by the tests of portal and the tests that build on them."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from app.domain.roles import Role
from tests.factories import make_account, make_debtor, make_partner, partner_bearer

BIRTH = date(1985, 4, 30)


NATIONAL_ID = "LOGM850430MDFPRR09"


@pytest.fixture
async def portal_world(session, settings, make_user, auth_headers):
    """Two partners; partner A's nonaccrual accounts of 10,000 (``small``) and 50,000
    (``big``) assigned to a collector, a current one (``current``), and partner B's."""
    bank = await make_partner(session, legal_name="Banco Uno S.A.")
    other = await make_partner(session, legal_name="Financiera Otra S.A.")
    collector = await make_user(Role.COLLECTOR)

    async def nonaccrual(partner, total: str, **overrides):
        debtor = await make_debtor(session, national_id=f"{uuid.uuid4().hex[:14]}R09X".upper())
        return await make_account(
            session, partner, debtor, dpd=120, stage="nonaccrual", principal=Decimal(total),
            interest=Decimal("0"), fees=Decimal("0"), past_due_amount=Decimal("1000.00"),
            **overrides,
        )  # fmt: skip

    me = await make_debtor(session, national_id=NATIONAL_ID, birth_date=BIRTH)
    small = await make_account(
        session, bank, me, dpd=120, stage="nonaccrual", principal=Decimal("10000.00"),
        interest=Decimal("0"), fees=Decimal("0"), past_due_amount=Decimal("1000.00"),
        assigned_collector_id=collector.id,
    )  # fmt: skip
    big = await nonaccrual(bank, "50000.00", assigned_collector_id=collector.id)
    current = await make_account(
        session, bank, await make_debtor(session, birth_date=date(1970, 1, 1)),
        assigned_collector_id=collector.id,
    )  # fmt: skip
    foreign = await nonaccrual(other, "7000.00")
    await session.commit()
    return {
        "bank": bank,
        "other": other,
        "small": small,
        "big": big,
        "current": current,
        "foreign": foreign,
        "collector": auth_headers(collector),
        "other_collector": auth_headers(await make_user(Role.COLLECTOR)),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
        "bank_system": await partner_bearer(session, settings, bank),
        "other_system": await partner_bearer(session, settings, other),
    }


async def issue(client, world, account: str = "small", who: str = "collector"):
    return await client.post(
        f"/api/v1/accounts/{world[account].id}/portal-links", headers=world[who]
    )


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


async def enter(client, token: str, **factor: str):
    body = {"token": token, **(factor or {"birth_date": BIRTH.isoformat()})}
    return await client.post("/portal/v1/sessions", json=body)


async def session_for(client, world, account: str = "small", **factor: str) -> dict[str, str]:
    link = await issue(client, world, account)
    assert link.status_code == 201, link.text
    response = await enter(client, token_of(link.json()["url"]), **factor)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
