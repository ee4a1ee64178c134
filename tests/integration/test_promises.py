"""The nightly promise follow-up in SQL gives what the domain rule gives, and runs once."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.domain.interactions import PromiseStatus, promise_outcome
from app.models.interaction import Interaction
from app.models.promise import Promise
from app.services import promises
from tests.factories import make_account, make_partner

AS_OF = date(2026, 11, 24)


async def test_follow_up_matches_the_domain_rule_at_every_edge(session):
    partner = await make_partner(session)
    account = await make_account(session, partner, dpd=40)
    interaction = Interaction(
        account_id=account.id,
        partner_id=partner.id,
        debtor_id=account.debtor_id,
        channel="call",
        direction="outbound",
        party="debtor",
        result_code="RPC_PTP",
        pack_version="MX-test",
        compliance={},
        created_by="test",
    )
    session.add(interaction)
    await session.flush()
    cases = []
    amounts = [Decimal("1000.00")]
    paid = [Decimal("0"), Decimal("1.00"), Decimal("949.99"), Decimal("950.00"), Decimal("1000")]
    days_late = [-1, 0, 3, 4]
    for amount, paid_amount, late in itertools.product(amounts, paid, days_late):
        promise = Promise(
            account_id=account.id,
            partner_id=partner.id,
            interaction_id=interaction.id,
            amount=amount,
            currency="MXN",
            due_date=AS_OF - timedelta(days=late),
            paid_amount=paid_amount,
            grace_days=3,
            tolerance_pct=Decimal("5"),
            escalate_after_broken=None,
            created_by="test",
        )
        session.add(promise)
        cases.append(promise)
    await session.flush()

    result = await promises.follow_up(session, AS_OF)

    for promise in cases:
        expected = promise_outcome(
            promise.amount, promise.paid_amount, promise.due_date, AS_OF, 3, Decimal("5")
        )
        stored = await session.scalar(select(Promise.status).where(Promise.id == promise.id))
        assert stored == expected.value, (promise.paid_amount, promise.due_date)
    assert result.kept == sum(
        promise_outcome(p.amount, p.paid_amount, p.due_date, AS_OF, 3, Decimal("5"))
        is PromiseStatus.KEPT
        for p in cases
    )
    again = await promises.follow_up(session, AS_OF)
    assert (again.kept, again.partially_kept, again.broken) == (0, 0, 0)
