"""Payments racing on one plan, on real connections with committed data: the account row
lock serialises them, so no installment is paid twice and nothing is lost."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from sqlmodel import col, select

from app.domain.roles import Role
from app.models.account import Account
from app.models.payment import Payment
from app.models.plan import PaymentPlan, PlanInstallment
from tests.conftest import bearer_for
from tests.factories import business_today, make_account, make_partner, make_plan


async def test_concurrent_payments_on_one_plan_never_double_allocate(live, settings):
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
        plan = await make_plan(session, account, collector, ["100.00"] * 3)

    def payment(amount: str) -> dict[str, object]:
        return {
            "account_id": str(account.id),
            "amount": amount,
            "currency": account.currency,
            "paid_on": today.isoformat(),
            "channel": "cash_store",
        }

    posts = [(collector, "60.00")] * 3 + [(manager, "60.00")] * 3
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/payments",
                json=payment(amount),
                headers={**bearer_for(settings, who), "Idempotency-Key": uuid.uuid4().hex},
            )
            for who, amount in posts
        )
    )
    assert [r.status_code for r in responses] == [201] * len(posts), [r.text for r in responses]
    async with database.sessionmaker() as session:
        installments = (
            await session.scalars(
                select(PlanInstallment)
                .where(col(PlanInstallment.plan_id) == plan.id)
                .order_by(col(PlanInstallment.number))
            )
        ).all()
        # 360 paid: the 300 of the plan exactly, not one cent allocated twice.
        assert [(i.paid_amount, i.status) for i in installments] == [
            (Decimal("100.00"), "paid")
        ] * 3
        assert (await session.get(PaymentPlan, plan.id)).status == "completed"
        stored = await session.get(Account, account.id)
        assert stored.total == Decimal("640.00")
        assert stored.version == 1 + len(posts)
        payments = (
            await session.scalars(select(Payment).where(col(Payment.account_id) == account.id))
        ).all()
        allocated = sum(
            (Decimal(p["amount"]) for pay in payments for p in pay.allocation["installments"]),
            Decimal(0),
        )
        assert allocated == Decimal("300.00")
        # Each payment saw the one before it: their installment parts never overlap.
        by_installment: dict[str, Decimal] = {}
        for pay in payments:
            for p in pay.allocation["installments"]:
                key = p["installment_id"]
                by_installment[key] = by_installment.get(key, Decimal(0)) + Decimal(p["amount"])
        assert set(by_installment.values()) == {Decimal("100.00")}


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
