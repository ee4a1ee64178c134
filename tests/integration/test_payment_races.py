"""Payments racing on one plan, on real connections with committed data: the account row
lock serialises them, so no installment is paid twice and nothing is lost (six at once, and
issue 9's fifty)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlmodel import col, select

from app.domain.roles import Role
from app.models.account import Account
from app.models.payment import Payment
from app.models.plan import PaymentPlan, PlanInstallment
from tests.conftest import bearer_for
from tests.factories import business_today, make_account, make_partner, make_plan


@pytest.mark.parametrize(
    ("installments", "posts", "amount"),
    [
        (3, 6, "60.00"),  # 360 on a plan of 300: the plan, then the balance
        (5, 50, "15.00"),  # issue 9's fifty at once: 750 on a plan of 500
    ],
    ids=["six", "fifty"],
)
async def test_concurrent_payments_on_one_plan_never_double_allocate(
    live, settings, installments: int, posts: int, amount: str
):
    client, add_user, database = live
    collector = await add_user(Role.COLLECTOR)
    manager = await add_user(Role.MANAGER)
    today = business_today()
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        account = await make_account(
            session,
            partner,
            assigned_collector_id=collector.id,
            dpd=40,
            principal=Decimal("1000.00"),
            interest=Decimal("0"),
            fees=Decimal("0"),
        )
        plan = await make_plan(session, account, collector, ["100.00"] * installments)
    body = {
        "account_id": str(account.id),
        "amount": amount,
        "currency": account.currency,
        "paid_on": today.isoformat(),
        "channel": "cash_store",
    }
    who = [collector, manager] * (posts // 2)
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/payments",
                json=body,
                headers={**bearer_for(settings, user), "Idempotency-Key": uuid.uuid4().hex},
            )
            for user in who
        )
    )
    assert [r.status_code for r in responses] == [201] * posts, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == posts
    paid_in = Decimal(amount) * posts
    plan_total = Decimal("100.00") * installments
    async with database.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(PlanInstallment)
                .where(col(PlanInstallment.plan_id) == plan.id)
                .order_by(col(PlanInstallment.number))
            )
        ).all()
        payments = (
            await session.scalars(select(Payment).where(col(Payment.account_id) == account.id))
        ).all()
        stored = await session.get(Account, account.id)
        final_plan = await session.get(PaymentPlan, plan.id)
    # Every payment accounted for: one row each, all of it off the balance, one version each.
    assert len(payments) == posts
    assert sum((p.amount for p in payments), Decimal(0)) == paid_in
    assert stored.total == Decimal("1000.00") - paid_in
    assert stored.version == 1 + posts
    # The plan exactly, not one cent allocated twice: what the installments show paid is
    # what the payments allocated to them, each installment exactly once over.
    assert [(i.paid_amount, i.status) for i in rows] == [(Decimal("100.00"), "paid")] * installments
    allocated: dict[str, Decimal] = {}
    for payment in payments:
        for part in payment.allocation["installments"]:
            key = part["installment_id"]
            allocated[key] = allocated.get(key, Decimal(0)) + Decimal(part["amount"])
    assert sum(allocated.values(), Decimal(0)) == plan_total
    assert {str(i.id): i.paid_amount for i in rows} == allocated
    assert final_plan.status == "completed"


async def test_concurrent_replays_of_one_key_record_one_payment(live, settings):
    client, add_user, database = live
    collector = await add_user(Role.COLLECTOR)
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        account = await make_account(session, partner, assigned_collector_id=collector.id)
    body = {
        "account_id": str(account.id),
        "amount": "10.00",
        "currency": account.currency,
        "paid_on": business_today().isoformat(),
        "channel": "spei",
    }
    headers = {**bearer_for(settings, collector), "Idempotency-Key": "same-key"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/payments", json=body, headers=headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    async with database.sessionmaker() as session:
        stored = await session.get(Account, account.id)
        assert stored.total == Decimal("1140.00")
