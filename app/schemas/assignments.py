"""API shapes of assignment pushes, their status and rejections, and recalls.

The row shapes below document the JSON body; rows are validated one by one by the job (a bad
row is reported, not a 422 for the whole push), so the request is parsed leniently.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.schemas.common import (
    AsciiDecimal,
    CalendarDate,
    Money,
    NoteText,
    PlainText,
    RowsDone,
    RowsTotal,
)

AssignmentStatus = Literal["queued", "processing", "completed", "completed_with_errors", "failed"]


class AddressIn(BaseModel):
    line: str = Field(max_length=300, description="Street, number and neighbourhood.")
    state: str | None = Field(default=None, max_length=60)
    municipality: str | None = Field(default=None, max_length=120)
    postal_code: str | None = Field(default=None, max_length=10)
    latitude: AsciiDecimal | None = Field(default=None, ge=-90, le=90)
    longitude: AsciiDecimal | None = Field(default=None, ge=-180, le=180)


class ConsentIn(BaseModel):
    """A channel the debtor authorised to the partner (or withdrew), from the partner's own
    record: stored with source `partner_file`. In Colombia only authorised channels are used
    (Ley 2300 de 2023, art. 2). A grant lifts an opt-out the debtor gave later than nothing:
    only one whose `given_on` is after the opt-out."""

    channel: Literal["call", "sms", "email", "whatsapp", "letter", "visit"]
    status: Literal["granted", "opted_out"] = "granted"
    partner_reference: str | None = Field(
        default=None, max_length=120, description="The partner's record; required to grant."
    )
    given_on: CalendarDate | None = Field(default=None, description="When the debtor gave it.")


class DebtorIn(BaseModel):
    first_names: str = Field(max_length=120)
    last_names: str = Field(max_length=120)
    national_id_type: str = Field(
        description="RFC or CURP (MX), CC or NIT (CO), DNI or RUC (PE), RUT (CL), CPF or CNPJ "
        "(BR), SSN or EIN (US); checked with its check digits."
    )
    national_id: str = Field(max_length=40)
    birth_date: CalendarDate | None = None
    phones: list[str] = Field(
        default_factory=list, max_length=5, description="Parsed to E.164 for the partner's country."
    )
    emails: list[str] = Field(default_factory=list, max_length=5)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=5)
    consents: list[ConsentIn] = Field(
        default_factory=list,
        max_length=6,
        description="CSV and Excel: column `debtor_consents`, `channel=reference` pairs "
        "separated by `|` (grants).",
    )


class ReferenceIn(BaseModel):
    full_name: str = Field(max_length=200)
    relationship: str | None = Field(default=None, max_length=60)
    phones: list[str] = Field(default_factory=list, max_length=5)


class GuarantorIn(BaseModel):
    full_name: str = Field(max_length=200)
    national_id_type: str | None = None
    national_id: str | None = Field(default=None, max_length=40)
    phones: list[str] = Field(default_factory=list, max_length=5)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=5)


class AssignmentRowIn(BaseModel):
    """One account. Amounts are decimal strings read like every amount of the API
    (``Money``), with at most the currency's decimals (two for MXN, none for CLP): a row
    with more is rejected, never rounded. A JSON number is also read, exactly, through the
    text it was written as (so ``1e3`` is refused as ``"1e3"`` is). Dates are YYYY-MM-DD
    and none may be in the future."""

    external_ref: str = Field(
        max_length=64, description="The partner's own id, unique per partner."
    )
    product_type: Literal["revolving", "installment", "single_payment"]
    currency: str = Field(description="ISO 4217; must be the partner's currency.")
    original_amount: Money | None = None
    principal: Money
    interest: Money
    fees: Money
    total: Money = Field(description="Must equal principal + interest + fees.")
    past_due_amount: Money | None = None
    oldest_unpaid_due_date: CalendarDate | None = None
    last_payment_date: CalendarDate | None = None
    last_payment_amount: Money | None = None
    debtor: DebtorIn
    references: list[ReferenceIn] = Field(default_factory=list, max_length=3)
    guarantors: list[GuarantorIn] = Field(default_factory=list, max_length=2)


class AssignmentPush(BaseModel):
    rows: list[AssignmentRowIn]


class AssignmentCounts(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int
    rejected: int


class AssignmentRead(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    status: AssignmentStatus
    source_format: Literal["json", "csv", "xlsx"]
    body_bytes: int
    rows_done: RowsDone
    rows_total: RowsTotal
    counts: AssignmentCounts
    failure: str | None = Field(description="Why a failed push could not be read at all.")
    submitted_by: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rejections_url: str
    rejections_csv_url: str


class RejectionRead(BaseModel):
    row_number: int = Field(
        description="JSON: position in `rows` from 1. CSV and Excel: the sheet's row (header is 1)."
    )
    external_ref: str | None
    field: str
    message: str


ExternalRef = Annotated[PlainText, Field(min_length=1, max_length=64)]


class RecallCreate(BaseModel):
    external_refs: list[ExternalRef] = Field(min_length=1, max_length=10_000)
    reason: NoteText | None = Field(default=None, max_length=200)


class RecallRead(BaseModel):
    requested: int
    recalled: int
    already_inactive: list[str] = Field(description="Refs that were already recalled or closed.")
    unknown: list[str] = Field(description="Refs this partner never assigned.")
