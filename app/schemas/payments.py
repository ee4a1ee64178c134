"""API shapes of payments and their reversal."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.domain.errors import InvalidValue
from app.domain.payments import PaymentChannel
from app.i18n import N_
from app.schemas.accounts import AccountLabelRead
from app.schemas.common import CalendarDate, NoteText, PlainText, PositiveMoney

# The payment channels a client records (app.domain.payments.RECORDED_CHANNELS): every
# channel but `credit_transfer`, which only a credit movement makes.
RecordedPaymentChannel = Literal["spei", "cash_store", "card", "branch", "partner_report"]


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID | None = Field(
        default=None, description="The account; or give `external_ref` instead."
    )
    external_ref: PlainText | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The partner's own reference of the account; staff also give `partner_id`.",
    )
    partner_id: uuid.UUID | None = Field(
        default=None,
        description="With `external_ref`, for staff (a partner system's own id is implied).",
    )
    amount: PositiveMoney = Field(
        description="More than zero, with at most the decimals of the account's currency "
        "(none for CLP)."
    )
    currency: str = Field(
        pattern=r"^[A-Z]{3}$", description="ISO 4217; must be the account's currency."
    )
    paid_on: CalendarDate
    channel: RecordedPaymentChannel
    payer_reference: PlainText | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The payer's reference (SPEI tracking key, store ticket): unique per "
        "partner; a second payment with it is a 409.",
    )

    payment_reference: PlainText | None = Field(
        default=None,
        max_length=20,
        description="The account's payment reference as the debtor quoted it (12 digits with "
        "their check digits; spaces and dashes ignored): a third way to name the account.",
    )

    @model_validator(mode="after")
    def _one_account(self) -> Self:
        given = [self.account_id, self.external_ref, self.payment_reference]
        if sum(value is not None for value in given) != 1:
            raise InvalidValue(
                N_("give exactly one of account_id, external_ref and payment_reference")
            )
        return self


class PaymentReversal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: NoteText = Field(min_length=3, max_length=1000)


class InstallmentAllocationRead(BaseModel):
    installment_id: uuid.UUID
    number: int
    amount: Decimal
    status_before: str
    status_after: str


class PromiseAllocationRead(BaseModel):
    promise_id: uuid.UUID
    amount: Decimal
    status_before: str
    status_after: str


class BalanceAllocationRead(BaseModel):
    past_due: Decimal = Field(description="How much the past-due amount went down.")
    fees: Decimal
    interest: Decimal
    principal: Decimal


class AllocationRead(BaseModel):
    """What the payment did. Installments (oldest first) and then pending promises are the
    commitments it met; the balance parts and the credit sum to the payment amount."""

    installments: list[InstallmentAllocationRead]
    promises: list[PromiseAllocationRead]
    balance: BalanceAllocationRead
    credit: Decimal
    plan_interest: Decimal = Field(
        description="Restructuring interest the paid installments earned, charged to the "
        "account's interest just before this payment met it."
    )
    plan_id: uuid.UUID | None
    plan_completed: bool
    account_closed: bool


class PaymentRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    partner_id: uuid.UUID
    amount: Decimal
    currency: str
    paid_on: date
    channel: PaymentChannel
    payer_reference: str | None
    status: Literal["applied", "reversed"]
    allocation: AllocationRead
    credit_amount: Decimal
    recorded_by: str
    created_at: datetime
    reversed_at: datetime | None
    reversed_by: str | None
    reversal_reason: str | None


class PaymentListItem(PaymentRead):
    """A payment in a cross-account list, with what a list screen shows of its account."""

    account: AccountLabelRead = Field(
        description="The account's reference, its debtor's name and its collector."
    )
