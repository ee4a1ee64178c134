"""API shapes of the debtor's self-service portal (and of the staff operation that sends a
debtor a link to it)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import CalendarDate, Money
from app.schemas.plans import PlanQuoteRead, PlanQuoteRequest, PlanRead


class PortalLinkRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    url: str = Field(
        description="The link to send the debtor through the agency's own channels. It is in "
        "this answer only (only its SHA-256 is kept); a newer link of the account replaces it."
    )
    expires_at: datetime


class PortalSessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="The `t` of the link.")
    birth_date: CalendarDate | None = Field(
        default=None, description="The debtor's birth date; or give `national_id_last4`."
    )
    national_id_last4: str | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="The last 4 letters or digits of the debtor's national id (CURP, RFC, …).",
    )


class PortalSessionRead(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the session lasts.")


class PortalPlanRead(BaseModel):
    plan: PlanRead
    agreement_url: str = Field(description="Where the plan's agreement PDF downloads.")


class PaymentInstructionsRead(BaseModel):
    creditor: str = Field(description="Pay the creditor, never the collection agency.")
    currency: str
    payment_reference: str | None = Field(description="Quote it with every payment.")
    bank_name: str | None
    clabe: str | None = Field(description="The creditor's CLABE for SPEI transfers (Mexico).")
    account_holder: str | None
    cash_stores: str | None = Field(description="Stores that take the payment reference.")
    account_clabe: str | None = Field(
        default=None,
        description="This account's own CLABE (Mexico): a SPEI transfer to it is applied to "
        "the account with no reference to quote.",
    )
    account_clabe_bank: str | None = Field(default=None, description="The bank of that CLABE.")
    store_reference: str | None = Field(
        default=None,
        description="The reference to pay this account in cash at convenience stores (Mexico).",
    )


class PortalPromiseRead(BaseModel):
    id: uuid.UUID
    amount: Decimal
    currency: str
    due_date: date
    status: str


class PortalDebtRead(BaseModel):
    account_ref: str = Field(description="The creditor's reference of the account.")
    creditor: str
    currency: str
    total: Decimal = Field(description="Everything owed: principal, interest and fees.")
    principal: Decimal
    interest: Decimal
    fees: Decimal
    past_due_amount: Decimal
    days_past_due: int
    stage: str
    owed_now: Decimal = Field(
        description="What to pay now: the next unpaid obligation of an active plan, else the "
        "past-due amount."
    )
    owed_now_due_date: date | None
    plan: PortalPlanRead | None = Field(description="The account's active or pending plan.")
    promise: PortalPromiseRead | None = Field(description="A pending promise to pay.")
    payment: PaymentInstructionsRead


class PortalOfferRead(BaseModel):
    id: str = Field(description="Stable for the day: the plan type.")
    terms: PlanQuoteRequest = Field(description="Send these back, unchanged, to accept it.")
    quote: PlanQuoteRead


class PortalOffersRead(BaseModel):
    quoted_on: date
    items: list[PortalOfferRead]


class PortalPromiseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Money = Field(description="More than 0 and at most the balance.")
    due_date: CalendarDate = Field(description="From today to 90 days ahead.")


class PortalContactPreferenceWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["call", "sms", "email", "whatsapp"] | None = Field(
        description="The channel to be contacted on; null: not to be contacted at all (every "
        "channel closed)."
    )
    preferred_time: Literal["morning", "afternoon", "evening"] | None = Field(
        default=None, description="When the debtor prefers to be contacted (with a channel)."
    )


class PortalContactPreferenceRead(BaseModel):
    channels: list[str] = Field(description="The channels whose consent changed.")
    status: Literal["granted", "opted_out"]
    source: Literal["portal"] = "portal"
