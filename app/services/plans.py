"""Payment plans: quotes (nothing is written).

A quote reads the account (within what the caller may see), the partner's strategy in force
and the partner's country for its holiday calendar, and hands them to
:func:`app.domain.plans.quote`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import holidays
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import PermissionDenied
from app.domain.plans import AccountFacts, Frequency, Quote, QuoteTerms, quote
from app.domain.roles import Role
from app.domain.stages import Stage
from app.domain.strategies import PlanType
from app.models.partner import Partner
from app.schemas.plans import PlanQuoteRequest
from app.security import Principal
from app.services import accounts, strategies
from app.services.assignments import partner_today

# Staff who negotiate plans; partners and auditors do not.
QUOTERS: frozenset[Role] = frozenset({Role.COLLECTOR, Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class QuoteView:
    account_id: uuid.UUID
    quoted_on: date
    strategy_version: int
    quote: Quote


def terms_of(body: PlanQuoteRequest) -> QuoteTerms:
    return QuoteTerms(
        plan_type=PlanType(body.plan_type),
        installments=body.installments,
        frequency=Frequency(body.frequency),
        first_due_date=body.first_due_date,
        down_payment=Decimal(body.down_payment),
        discount_pct=Decimal(body.discount_pct),
        annual_rate_pct=Decimal(body.annual_rate_pct),
    )


async def quote_plan(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    body: PlanQuoteRequest,
    *,
    today: date | None = None,
) -> QuoteView:
    """The schedule, limits broken and approver for ``body`` on an account the caller sees."""
    if principal.role not in QUOTERS:
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    partner = await session.get_one(Partner, account.partner_id)
    country = partner.country
    version, document = await strategies.current_strategy(session, account.partner_id)
    # The partner's business day: an evening quote in Mexico is not tomorrow's.
    quoted_on = today or partner_today(partner)
    result = quote(
        terms_of(body),
        AccountFacts(
            total=account.total, past_due_amount=account.past_due_amount, currency=account.currency
        ),
        holidays.country_holidays(country),
        document,
        Stage(account.stage),
        quoted_on=quoted_on,
    )
    return QuoteView(account.id, quoted_on, version, result)
