"""Concurrency scenarios of issue 9 not covered elsewhere, on real connections (a pool, as in
production) and committed data.

Covered elsewhere and not repeated here (see tests/reliability/README.md):
- two managers approving one plan at once: tests/integration/test_plan_races.py;
- 20 collectors calling ``next`` at once: tests/integration/test_worklist_races.py;
- six payments on one plan, and one payment key replayed at once:
  tests/integration/test_payment_races.py (scaled up to 50 here);
- workers racing for one push: tests/integration/test_worker.py.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import col

from app.domain.roles import Role
from app.models.account import Account
from app.models.assignment import Assignment
from app.models.audit import AuditEvent
from app.models.payment import Payment
from app.models.plan import PaymentPlan, PlanInstallment
from tests.conftest import bearer_for
from tests.factories import business_today, make_account, make_partner, make_plan
from tests.security._world import PORTFOLIO_CSV

PAYMENTS = 50


async def test_fifty_simultaneous_payments_on_one_plan_never_double_allocate(live, settings):
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
        plan = await make_plan(session, account, collector, ["100.00"] * 5)
    body = {
        "account_id": str(account.id),
        "amount": "15.00",
        "currency": account.currency,
        "paid_on": today.isoformat(),
        "channel": "cash_store",
    }
    who = [collector, manager] * (PAYMENTS // 2)
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
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * PAYMENTS, [r.text for r in responses if r.status_code != 201]
    assert len({r.json()["id"] for r in responses}) == PAYMENTS

    async with database.sessionmaker() as session:
        installments = (
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
    # Every payment accounted for: 50 rows, 750 taken off the balance, one version each.
    assert len(payments) == PAYMENTS
    assert sum((p.amount for p in payments), Decimal(0)) == Decimal("750.00")
    assert stored.total == Decimal("250.00")
    assert stored.version == 1 + PAYMENTS
    # No double allocation: what the installments show paid is what the payments allocated
    # to them, each installment exactly once over, never more.
    paid = sum((i.paid_amount for i in installments), Decimal(0))
    allocated: dict[str, Decimal] = {}
    for payment in payments:
        for part in payment.allocation["installments"]:
            key = part["installment_id"]
            allocated[key] = allocated.get(key, Decimal(0)) + Decimal(part["amount"])
    assert paid == sum(allocated.values(), Decimal(0)) == Decimal("500.00")
    assert {str(i.id): i.paid_amount for i in installments} == allocated
    assert [i.status for i in installments] == ["paid"] * 5
    assert final_plan.status == "completed"


async def _push_twice(live, settings, first: bytes, second: bytes):
    client, add_user, database = live
    manager = await add_user(Role.MANAGER)
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
    headers = {
        **bearer_for(settings, manager),
        "Content-Type": "text/csv",
        "Idempotency-Key": f"push-{uuid.uuid4().hex}",
    }
    url = f"/api/v1/partners/{partner.id}/assignments"
    responses = await asyncio.gather(
        client.post(url, content=first, headers=headers),
        client.post(url, content=second, headers=headers),
    )
    async with database.sessionmaker() as session:
        pushes = await session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(col(Assignment.partner_id) == partner.id)
        )
        submitted = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(col(AuditEvent.action) == "assignment.submitted")
        )
    return responses, pushes, submitted


async def test_one_push_sent_twice_at_once_with_one_key_is_one_push_and_one_replay(live, settings):
    responses, pushes, submitted = await _push_twice(live, settings, PORTFOLIO_CSV, PORTFOLIO_CSV)
    assert [r.status_code for r in responses] == [202, 202], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    replayed = sorted(r.headers.get("Idempotent-Replayed", "") for r in responses)
    assert replayed == ["", "true"]
    assert (pushes, submitted) == (1, 1)


async def test_two_different_pushes_at_once_with_one_key_store_one(live, settings):
    other = PORTFOLIO_CSV.replace(b"TC-900002", b"TC-900003")
    responses, pushes, submitted = await _push_twice(live, settings, PORTFOLIO_CSV, other)
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 202 and 400 <= statuses[1] < 500, [r.text for r in responses]
    loser = next(r for r in responses if r.status_code != 202)
    assert loser.headers["content-type"].startswith("application/problem+json")
    assert (pushes, submitted) == (1, 1)
