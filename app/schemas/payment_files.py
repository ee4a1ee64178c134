"""API shapes of partner payment files and their reconciliation report."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import NoteText, RowsDone, RowsTotal

OutcomeName = Literal[
    "matched", "matched_by_reference", "unmatched", "duplicate", "rejected", "matched_by_hand"
]


class PaymentFileCounts(BaseModel):
    received: int = Field(description="Lines read (blank lines are skipped).")
    matched: int = Field(description="Applied to the account named by external_ref.")
    matched_by_reference: int = Field(
        description="Applied to the account named by its payment reference."
    )
    matched_by_hand: int = Field(
        description="Unmatched lines applied by hand since, to an account someone found."
    )
    unmatched: int = Field(description="Readable, but no account could take the money (yet).")
    duplicates: int = Field(description="Payer reference already applied: not applied again.")
    rejected: int = Field(description="Lines that cannot be read (see their detail).")


class PaymentFileAmounts(BaseModel):
    applied: Decimal = Field(description="Money applied to accounts (by hand included).")
    unmatched: Decimal = Field(description="Money received that found no account (yet).")
    currency: str


class PaymentFileRead(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    status: Literal["queued", "processing", "completed", "completed_with_errors", "failed"]
    source_format: Literal["csv", "xlsx"]
    body_bytes: int
    rows_done: RowsDone
    rows_total: RowsTotal
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
    channel: str | None = Field(description="As the file said, or its default.")
    account_id: uuid.UUID | None
    payment_id: uuid.UUID | None = Field(description="The payment made, when applied.")
    duplicate_of: uuid.UUID | None = Field(
        description="For a duplicate of an earlier payment: that payment."
    )
    detail: str | None


class PaymentFileLineApply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID = Field(
        description="The account that takes the money: the file's partner's, its currency."
    )
    note: NoteText = Field(min_length=3, max_length=1000, description="How the account was found.")
