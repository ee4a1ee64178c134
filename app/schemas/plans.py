"""API shapes of payment plan quotes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.accounts import AccountLabelRead
from app.schemas.common import AsciiDecimal, CalendarDate, Money, NoteText

PlanTypeName = Literal["regularization", "restructuring", "settlement"]
FrequencyName = Literal["weekly", "biweekly", "monthly"]


class PlanQuoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_type: PlanTypeName
    down_payment: Money = Field(
        default=Decimal(0),
        description="Paid on agreement; at most the currency's decimals (none for CLP).",
    )
    down_payment_due_date: CalendarDate | None = Field(
        default=None,
        description="When the down payment is due: from the quote date to the first "
        "installment's due date; the quote date when not given. Only with a down payment.",
    )
    installments: int = Field(ge=1, le=360)
    frequency: FrequencyName
    first_due_date: CalendarDate = Field(
        description="From the quote date (the partner's today) to 90 days after it; a weekend or "
        "holiday moves to the next business day."
    )
    discount_pct: AsciiDecimal = Field(
        default=Decimal(0),
        ge=0,
        le=100,
        max_digits=5,
        decimal_places=2,
        description="Settlement only: percent of the total forgiven.",
    )
    annual_rate_pct: AsciiDecimal = Field(
        default=Decimal(0),
        ge=0,
        le=200,
        max_digits=5,
        decimal_places=2,
        description="Restructuring only: nominal annual rate (French amortisation).",
    )


class InstallmentRead(BaseModel):
    number: int = Field(description="0 is the down payment; 1… the installments.")
    kind: Literal["down_payment", "installment"]
    due_date: date
    amount: Decimal
    principal: Decimal | None = Field(description="Restructuring only.")
    interest: Decimal | None = Field(description="Restructuring only.")


class QuoteTotalsRead(BaseModel):
    down_payment: Decimal
    down_payment_due_date: date | None = Field(
        description="When the down payment (schedule number 0) is due; null without one."
    )
    agreed_total: Decimal = Field(description="Down payment plus every installment, exactly.")
    financed: Decimal = Field(description="What the installments pay off, before interest.")
    interest_total: Decimal
    forgiven: Decimal = Field(description="Settlement: the discount off the total.")


class BreakingRuleRead(BaseModel):
    """When the plan breaks (and goes to management): the strategy's rule for its type and
    stage, kept with the plan."""

    missed_installments: int = Field(description="Installments past due and unpaid.")
    days_late: int = Field(description="Or one installment more than this many days late.")


class BreachRead(BaseModel):
    code: Literal[
        "plan_type_not_offered",
        "discount_above_max",
        "installments_above_max",
        "down_payment_below_min",
        "term_above_max",
    ]
    message: str


class PlanQuoteRead(BaseModel):
    account_id: uuid.UUID
    plan_type: PlanTypeName
    currency: str
    quoted_on: date
    schedule: list[InstallmentRead] = Field(
        description="Every obligation in order: the down payment (number 0), then the "
        "installments; they sum to `totals.agreed_total`."
    )
    totals: QuoteTotalsRead
    strategy_version: int
    breaches: list[BreachRead] = Field(description="The strategy limits these terms break.")
    approver_role: Literal["collector", "team_lead", "manager"] = Field(
        description="The least role that may approve the plan; any limit broken: a manager."
    )
    breaks_after: BreakingRuleRead


# --- plans --------------------------------------------------------------------------------

PlanStatusName = Literal[
    "proposed", "pending_approval", "active", "rejected", "cancelled", "completed", "broken"
]


class PlanCreate(PlanQuoteRequest):
    """The terms of a quote: the plan is quoted again under the same rules and stored."""


class PlanDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: NoteText | None = Field(default=None, max_length=2000)


class PlanRejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: NoteText = Field(min_length=1, max_length=2000, description="Why the plan is rejected.")


class PlanInstallmentRead(InstallmentRead):
    paid_amount: Decimal
    status: Literal["pending", "paid", "partially_paid"]


class PlanRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    plan_type: PlanTypeName
    status: PlanStatusName
    terms: PlanQuoteRequest = Field(description="The terms the plan was proposed with.")
    currency: str
    quoted_on: date
    schedule: list[PlanInstallmentRead]
    totals: QuoteTotalsRead
    strategy_version: int
    breaches: list[BreachRead]
    approver_role: Literal["collector", "team_lead", "manager", "admin"] = Field(
        description="The least role that may approve the plan."
    )
    breaks_after: BreakingRuleRead
    proposed_by: uuid.UUID | None = Field(
        description="Null when the debtor accepted the plan in the self-service portal."
    )
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    decision_note: str | None
    cancelled_by: uuid.UUID | None
    cancelled_at: datetime | None
    agreement_sha256: str | None = Field(
        description="SHA-256 of the agreement PDF, set the first time it is generated."
    )
    version: int
    created_at: datetime
    updated_at: datetime


class PlanListItem(PlanRead):
    """A plan in a cross-account list, with what a list screen shows of its account."""

    account: AccountLabelRead = Field(
        description="The account's reference, its debtor's name and its collector."
    )
