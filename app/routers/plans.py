from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.deps import PrincipalDep, SessionDep
from app.problems import problem_responses
from app.schemas.plans import (
    BreachRead,
    InstallmentRead,
    PlanQuoteRead,
    PlanQuoteRequest,
    QuoteTotalsRead,
)
from app.services import plans
from app.services.plans import QuoteView

router = APIRouter(tags=["plans"])


def _quote_read(view: QuoteView) -> PlanQuoteRead:
    q = view.quote
    return PlanQuoteRead(
        account_id=view.account_id,
        plan_type=q.plan_type.value,
        currency=q.currency,
        quoted_on=view.quoted_on,
        schedule=[
            InstallmentRead(
                number=i.number,
                due_date=i.due_date,
                amount=i.amount,
                principal=i.principal,
                interest=i.interest,
            )
            for i in q.schedule
        ],
        totals=QuoteTotalsRead(
            down_payment=q.down_payment,
            agreed_total=q.agreed_total,
            financed=q.financed,
            interest_total=q.interest_total,
            forgiven=q.forgiven,
        ),
        strategy_version=view.strategy_version,
        breaches=[BreachRead(code=b.code, message=b.message) for b in q.breaches],
        approver_role=q.approver_role.value,
    )


@router.post(
    "/accounts/{account_id}/plan-quotes",
    summary="Quote a payment plan: the schedule, the limits it breaks and who approves it",
    response_model=PlanQuoteRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def quote_plan(
    session: SessionDep, principal: PrincipalDep, account_id: uuid.UUID, body: PlanQuoteRequest
) -> PlanQuoteRead:
    """Writes nothing. Regularization spreads the past-due amount, restructuring re-amortises
    the total at `annual_rate_pct` (French amortisation), settlement takes `discount_pct` off
    the total. Amounts are in the account's currency, rounded half-up to its minor unit; the
    installments and the down payment sum exactly to the agreed total (the remainder in the
    last installment). Due dates on weekends or the partner country's holidays move to the
    next business day. Collectors quote on their own accounts; partners and auditors may
    not quote (403)."""
    return _quote_read(await plans.quote_plan(session, principal, account_id, body))
