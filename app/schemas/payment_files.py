"""API shapes of partner payment files and their reconciliation report."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

OutcomeName = Literal["matched", "matched_by_reference", "unmatched", "duplicate", "rejected"]


class PaymentFileCounts(BaseModel):
    received: int = Field(description="Lines read (blank lines are skipped).")
    matched: int = Field(description="Applied to the account named by external_ref.")
    matched_by_reference: int = Field(
        description="Applied to the account named by its payment reference."
    )
    unmatched: int = Field(description="Readable, but no account could take the money.")
    duplicates: int = Field(description="Payer reference already applied: not applied again.")
    rejected: int = Field(description="Lines that cannot be read (see their detail).")


class PaymentFileAmounts(BaseModel):
    applied: Decimal = Field(description="Money applied to accounts.")
    unmatched: Decimal = Field(description="Money received that found no account.")
    currency: str


class PaymentFileRead(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    status: Literal["queued", "processing", "completed", "completed_with_errors", "failed"]
    source_format: Literal["csv", "xlsx"]
    body_bytes: int
    counts: PaymentFileCounts
    amounts: PaymentFileAmounts
    failure: str | None
    submitted_by: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lines_url: str
    report_csv_url: str


class PaymentFileLineRead(BaseModel):
    row_number: int = Field(description="As a spreadsheet numbers it: the header is row 1.")
    outcome: OutcomeName
    external_ref: str | None
    payment_reference: str | None
    payer_reference: str | None
    amount: Decimal | None
    paid_on: date | None
    account_id: uuid.UUID | None
    payment_id: uuid.UUID | None = Field(description="The payment made, when applied.")
    duplicate_of: uuid.UUID | None = Field(
        description="For a duplicate of an earlier payment: that payment."
    )
    detail: str | None
