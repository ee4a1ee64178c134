"""Helpers shared by the tests of commissions and the tests that build on them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from app.domain.roles import Role
from app.models.account import Account, AccountEvent
from app.models.partner import Partner
from app.models.payment import Payment
from app.models.plan import PaymentPlan
from app.models.user import User
from tests.factories import (
    make_account,
    make_partner,
    make_team,
)

PERIOD = "2026-10"


# Rates of the partner's terms (percent), and the clawback window.
TERMS_BODY: dict[str, Any] = {
    "effective_from": "2026-01-01",
    "clawback_days": 30,
    "tiers": [
        {"stage": "early", "recovery_type": "full_payment", "rate_pct": "10"},
        {"stage": "early", "rate_pct": "5"},
        {"recovery_type": "settlement", "rate_pct": "3"},
        {"rate_pct": "2"},
        {"stage": "late", "recovery_type": "plan_installment", "rate_pct": "7.5"},
    ],
}


async def add_plan(
    session, account: Account, proposer: User, plan_type: str, **extra
) -> PaymentPlan:
    plan = PaymentPlan(
        account_id=account.id,
        partner_id=account.partner_id,
        plan_type=plan_type,
        status=extra.pop("status", "active"),
        terms={"plan_type": plan_type},
        breaches=[],
        agreed_total=Decimal("1000.00"),
        financed=Decimal("1000.00"),
        currency=account.currency,
        quoted_on=date(2026, 9, 1),
        strategy_version=1,
        approver_role="collector",
        proposed_by=proposer.id,
        **extra,
    )
    session.add(plan)
    await session.flush()
    return plan


async def add_payment(
    session,
    account: Account,
    amount: str,
    paid_on: date,
    *,
    stage: str,
    plan: PaymentPlan | None = None,
    reversed_at: datetime | None = None,
    closes: bool = False,
) -> Payment:
    """A payment as the payments service stores it, with the parts of the allocation the
    reports read: all of it applied to principal, the stage and total before it (a full
    payment when it ``closes`` the account, else partial), an installment of the plan."""
    payment = Payment(
        account_id=account.id,
        partner_id=account.partner_id,
        amount=Decimal(amount),
        currency=account.currency,
        paid_on=paid_on,
        channel="spei",
        idempotency_key=uuid.uuid4().hex,
        body_sha256="0" * 64,
        status="reversed" if reversed_at else "applied",
        reversed_at=reversed_at,
        reversed_by="test" if reversed_at else None,
        allocation={
            "amount": amount,
            "paid_on": paid_on.isoformat(),
            "plan_id": None if plan is None else str(plan.id),
            "installments": []
            if plan is None
            else [{"installment_id": str(uuid.uuid4()), "number": 1, "amount": amount}],
            "balance": {"past_due": "0", "fees": "0", "interest": "0", "principal": amount},
            "credit": "0",
            "account_closed": closes,
            "before": {"stage": stage, "total": amount if closes else "100000.00"},
        },
        recorded_by="test",
    )
    session.add(payment)
    await session.flush()
    return payment


@dataclass
class Desk:
    partner: Partner
    other_partner: Partner
    manager: User
    lead: User
    ana: User  # collector in the lead's team
    beto: User  # collector in another team
    team_id: uuid.UUID
    other_team_id: uuid.UUID


async def build_desk(session, make_user) -> Desk:
    """Partner (Mexico City time) with October 2026 payments:

    ana (terms: 30-day clawback)
      P1 early, full payment   1000.00  10 %  → 100.00  (account now beto's: credited by history)
      P2 early, regularization  333.33   5 %  →  16.67
      P3 late, settlement      2000.00   3 %  →  60.00
      P4 late, restructuring    500.00 7.5 %  →  37.50, plan broke 8 days later: clawed back
      P5 mid, partial           400.00   2 %  →   8.00, reversed 45 days later: kept
      P6 mid, partial           250.00   2 %  →   5.00, reversed on day 30 (local): clawed back
      out of the period: 2026-09-30 and 2026-11-01
    beto
      P7 early, partial         100.00   5 %  →   5.00
    """
    partner = await make_partner(session)
    other_partner = await make_partner(session)
    manager = await make_user(Role.MANAGER)
    lead = await make_user(Role.TEAM_LEAD)
    ana = await make_user(Role.COLLECTOR)
    beto = await make_user(Role.COLLECTOR)
    ana.full_name, beto.full_name = "Ana Ruiz", "Beto Soto"
    session.add_all([ana, beto])
    team = await make_team(session, lead=lead, members=[ana])
    other_team = await make_team(session, members=[beto])

    async def acct(collector: User, stage_dpd: int) -> Account:
        return await make_account(
            session, partner, dpd=stage_dpd, assigned_collector_id=collector.id
        )

    # P1: the account was ana's in October, moved to beto on 2026-11-05.
    moved = await acct(beto, 10)
    session.add(
        AccountEvent(
            account_id=moved.id,
            partner_id=partner.id,
            kind="assigned",
            as_of=date(2026, 11, 5),
            actor_id="test",
            before={"assigned_collector_id": str(ana.id), "assigned_team_id": None},
            after={"assigned_collector_id": str(beto.id), "assigned_team_id": None},
        )
    )
    await add_payment(session, moved, "1000.00", date(2026, 10, 5), stage="early", closes=True)

    a2 = await acct(ana, 10)
    plan2 = await add_plan(session, a2, ana, "regularization")
    await add_payment(session, a2, "333.33", date(2026, 10, 6), stage="early", plan=plan2)

    a3 = await acct(ana, 70)
    plan3 = await add_plan(session, a3, ana, "settlement")
    await add_payment(session, a3, "2000.00", date(2026, 10, 10), stage="late", plan=plan3)

    a4 = await acct(ana, 70)
    plan4 = await add_plan(
        session, a4, ana, "restructuring", status="broken",
        updated_at=datetime(2026, 10, 20, 18, 0, tzinfo=UTC),
    )  # fmt: skip
    await add_payment(session, a4, "500.00", date(2026, 10, 12), stage="late", plan=plan4)

    a5 = await acct(ana, 40)
    await add_payment(
        session, a5, "400.00", date(2026, 10, 1), stage="mid",
        reversed_at=datetime(2026, 11, 15, 12, 0, tzinfo=UTC),
    )  # fmt: skip
    # 05:00 UTC on the 25th is still the 24th in Mexico City: day 30 of the window.
    await add_payment(
        session, a5, "250.00", date(2026, 10, 25), stage="mid",
        reversed_at=datetime(2026, 11, 25, 5, 0, tzinfo=UTC),
    )  # fmt: skip
    await add_payment(session, a5, "999.00", date(2026, 9, 30), stage="mid")
    await add_payment(session, a5, "888.00", date(2026, 11, 1), stage="mid")

    b1 = await acct(beto, 10)
    await add_payment(session, b1, "100.00", date(2026, 10, 15), stage="early")
    await session.flush()
    return Desk(partner, other_partner, manager, lead, ana, beto, team.id, other_team.id)
