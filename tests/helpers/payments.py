"""Helpers shared by the tests of payments and the tests that build on them."""

from __future__ import annotations

import uuid

import pytest

from app.domain.roles import Role
from app.models.account import Account
from app.models.plan import PaymentPlan
from tests.factories import business_today, make_account, make_partner, make_plan, partner_bearer

PAYMENTS = "/api/v1/payments"


TODAY = business_today()


async def add_plan(session, account: Account, proposer, amounts: list[str]) -> PaymentPlan:
    """An active plan with installments of ``amounts``, due monthly from next month."""
    plan = await make_plan(session, account, proposer, amounts)
    await session.commit()
    return plan


@pytest.fixture
async def payments_desk(session, settings, make_user, auth_headers):
    """A partner; a collector assigned a 1,150 account 300 past due (mid stage); an
    unassigned account; a manager, an admin and an auditor; the partner's system."""
    partner = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    mine = await make_account(session, partner, dpd=40, assigned_collector_id=collector.id)
    unassigned = await make_account(session, partner, dpd=40)
    system = await partner_bearer(session, settings, partner)
    await session.commit()
    return {
        "partner": partner,
        "mine": mine,
        "unassigned": unassigned,
        "collector_user": collector,
        "collector": auth_headers(collector),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "admin": auth_headers(await make_user(Role.ADMIN)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
        "partner_system": system,
    }


def body(account: Account, amount: str = "100.00", **extra: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "account_id": str(account.id),
        "amount": amount,
        "currency": account.currency,
        "paid_on": TODAY.isoformat(),
        "channel": "spei",
    }
    payload.update(extra)
    return payload


async def pay(client, headers, payload, key: str | None = None):
    return await client.post(
        PAYMENTS, json=payload, headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex}
    )
