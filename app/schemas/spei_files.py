"""API shapes of SPEI statements and their deposits."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import RowsDone, RowsTotal
from app.schemas.payment_files import OutcomeName, PaymentFileAmounts, PaymentFileCounts


class SpeiFileRead(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    status: Literal["queued", "processing", "completed", "completed_with_errors", "failed"]
    source_format: Literal["csv", "xlsx"]
    body_bytes: int
    rows_done: RowsDone
    rows_total: RowsTotal
    counts: PaymentFileCounts = Field(
        description="Deposits matched by CLABE count as matched_by_reference."
    )
    amounts: PaymentFileAmounts
    failure: str | None
    submitted_by: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deposits_url: str
    unmatched_url: str


class SpeiDepositRead(BaseModel):
    row_number: int = Field(description="As a spreadsheet numbers it: the header is row 1.")
    outcome: OutcomeName
    beneficiary_clabe: str | None = Field(description="The CLABE the transfer was sent to.")
    tracking_key: str | None = Field(description="SPEI's clave de rastreo (upper case).")
    amount: Decimal | None
    date: date | None
    payer_name_masked: str | None = Field(description="The ordering party, masked.")
    payer_bank: str | None
    account_id: uuid.UUID | None
    payment_id: uuid.UUID | None = Field(description="The payment made, when applied.")
    duplicate_of: uuid.UUID | None = Field(
        description="For a duplicate of an earlier payment: that payment."
    )
    detail: str | None = Field(description="Why it was not applied, when it was not.")
