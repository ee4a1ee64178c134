"""Payment files through the worker on real connections with committed data: queued with
their upload like pushes, and a file applied while payments are posted on the same account
never double-allocates."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from sqlmodel import col, func, select

from app.domain.roles import Role
from app.jobs.worker import run_until_empty
from app.models.account import Account
from app.models.payment import Payment
from app.models.payment_file import PaymentFile
from tests.conftest import bearer_for
from tests.factories import business_today, make_account, make_partner


async def test_the_worker_reconciles_a_file_while_payments_race_on_its_account(live, settings):
    client, add_user, database = live
    manager = await add_user(Role.MANAGER)
    headers = bearer_for(settings, manager)
    today = business_today().isoformat()
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        account = await make_account(
            session, partner, dpd=40, principal=Decimal("1000.00"),
            interest=Decimal("0"), fees=Decimal("0"),
        )  # fmt: skip
    lines = "".join(f"{account.external_ref},25.00,{today},F-{n}\n" for n in range(20))
    sent = await client.post(
        f"/api/v1/partners/{partner.id}/payment-files",
        content=("external_ref,amount,paid_on,payer_reference\n" + lines).encode(),
        headers={**headers, "Content-Type": "text/csv", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 202, sent.text
    file_id = uuid.UUID(sent.json()["id"])

    async def post_one(n: int):
        return await client.post(
            "/api/v1/payments",
            json={"account_id": str(account.id), "amount": "10.00",
                  "currency": account.currency, "paid_on": today, "channel": "spei",
                  "payer_reference": f"D-{n}"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip

    results = await asyncio.gather(
        run_until_empty(database, settings), *(post_one(n) for n in range(5))
    )
    assert results[0] == 1
    assert all(r.status_code == 201 for r in results[1:])

    async with database.sessionmaker() as session:
        done = await session.get_one(PaymentFile, file_id)
        assert (done.status, done.matched, done.applied_amount) == (
            "completed",
            20,
            Decimal("500.00"),
        )
        fresh = await session.get_one(Account, account.id)
        # 20 × 25 from the file and 5 × 10 posted: every cent counted once.
        assert fresh.total == Decimal("1000.00") - Decimal("550.00")
        paid = await session.scalar(
            select(func.sum(Payment.amount)).where(col(Payment.account_id) == account.id)
        )
        assert paid == Decimal("550.00")
    assert await run_until_empty(database, settings) == 0
