"""The nightly plan follow-up in SQL breaks exactly the plans the domain rule breaks."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.domain.plans import BreakingRule, InstallmentState, plan_is_broken
from app.domain.roles import Role
from app.models.escalation import Escalation
from app.models.plan import PaymentPlan, PlanInstallment
from app.services.plans import follow_up_plans
from tests.factories import make_account, make_partner

AS_OF = date(2026, 11, 24)

COMMON = BreakingRule()
STRICT = BreakingRule(missed_installments=1, days_late=10)
LENIENT = BreakingRule(missed_installments=3, days_late=60)

# Each case: the plan's rule, and (days each installment is due before AS_OF, part paid).
CASES = [
    (COMMON, [(10, Decimal("1")), (3, Decimal("1"))]),  # all paid
    (COMMON, [(10, Decimal("0.5")), (-20, Decimal("0"))]),  # one missed, 10 days: not yet
    (COMMON, [(31, Decimal("0")), (1, Decimal("1"))]),  # one missed 31 days: broken
    (COMMON, [(30, Decimal("0")), (-1, Decimal("0"))]),  # one missed exactly 30 days: not yet
    (COMMON, [(20, Decimal("0.99")), (5, Decimal("0"))]),  # two missed: broken
    (COMMON, [(0, Decimal("0")), (-30, Decimal("0"))]),  # due today: not missed yet
    (STRICT, [(5, Decimal("0")), (-25, Decimal("0"))]),  # one missed is enough: broken
    (LENIENT, [(20, Decimal("0")), (5, Decimal("0"))]),  # two of three missed: not yet
    (LENIENT, [(61, Decimal("0")), (31, Decimal("1"))]),  # 61 days late: broken
]


async def test_follow_up_breaks_what_the_rule_breaks_and_escalates_once(session, make_user):
    partner = await make_partner(session)
    proposer = await make_user(Role.MANAGER)
    expected = {}
    for rule, case in CASES:
        account = await make_account(session, partner, dpd=40)
        plan = PaymentPlan(
            account_id=account.id,
            partner_id=partner.id,
            plan_type="regularization",
            status="active",
            terms={},
            breaches=[],
            agreed_total=Decimal("2000.00"),
            financed=Decimal("2000.00"),
            currency="MXN",
            quoted_on=AS_OF - timedelta(days=60),
            strategy_version=0,
            approver_role="collector",
            missed_installments_to_break=rule.missed_installments,
            days_late_to_break=rule.days_late,
            proposed_by=proposer.id,
        )
        session.add(plan)
        await session.flush()
        states = []
        for number, (days_before, share) in enumerate(case, start=1):
            due = AS_OF - timedelta(days=days_before)
            amount = Decimal("1000.00")
            paid = (amount * share).quantize(Decimal("0.01"))
            session.add(
                PlanInstallment(
                    plan_id=plan.id, number=number, due_date=due, amount=amount, paid_amount=paid
                )
            )
            states.append(InstallmentState(due, amount, paid))
        expected[plan.id] = plan_is_broken(states, AS_OF, rule)
    await session.flush()

    result = await follow_up_plans(session, AS_OF)

    for plan_id, broken in expected.items():
        status = await session.scalar(select(PaymentPlan.status).where(PaymentPlan.id == plan_id))
        assert status == ("broken" if broken else "active"), plan_id
    assert result.broken == sum(expected.values()) == 4
    assert result.escalated == 4
    triggers = set(await session.scalars(select(Escalation.trigger)))
    assert triggers == {"broken_plan"}
    again = await follow_up_plans(session, AS_OF)
    assert (again.broken, again.escalated) == (0, 0)
