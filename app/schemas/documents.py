"""API shapes of account documents and the custody of their paper originals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.accounts import AccountLabelRead
from app.schemas.common import CalendarDate, NoteText, PlainText

DocumentKindName = Literal[
    "signed_agreement",
    "identity_document",
    "proof_of_payment",
    "visit_photo",
    "correspondence",
    "other",
]
ContentTypeName = Literal["application/pdf", "image/jpeg", "image/png"]
CustodyStatusName = Literal[
    "digital_only", "with_collector", "delivered_to_office", "destroyed", "returned_to_partner"
]
RecordableCustody = Literal[
    "with_collector", "delivered_to_office", "destroyed", "returned_to_partner"
]


class CustodyRead(BaseModel):
    status: CustodyStatusName = Field(
        description="`digital_only` until a paper original is recorded; then it moves only "
        "forward: `with_collector` → `delivered_to_office` → `destroyed` or "
        "`returned_to_partner` (sent back to the creditor)."
    )
    on: date | None = Field(description="Business date of the current step.")
    by: str | None = Field(description="The person who holds, received or destroyed it.")
    note: str | None
    recorded_by: str | None = Field(description="Who recorded the current step.")
    recorded_at: datetime | None
    holder_id: uuid.UUID | None = Field(
        description="While `with_collector`: the collector holding it (the one who recorded "
        "it, or the account's collector when the office recorded it)."
    )


class DocumentRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    partner_id: uuid.UUID
    debtor_id: uuid.UUID
    kind: DocumentKindName
    title: str | None
    content_type: ContentTypeName
    size_bytes: int
    sha256: str = Field(description="SHA-256 of the bytes, lower-case hex.")
    uploaded_by: str
    uploaded_at: datetime
    custody: CustodyRead
    content_url: str = Field(description="Where to download the bytes (each download is audited).")


class CustodyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: RecordableCustody
    on: CalendarDate = Field(description="Business date the step happened (not in the future).")
    by: PlainText = Field(
        min_length=1,
        max_length=120,
        pattern=r"\S",
        description="The person who holds the original, received it or destroyed it.",
    )
    note: NoteText | None = Field(default=None, max_length=500)


class DocumentListItem(DocumentRead):
    """A document in a cross-account list, with what a list screen shows of its account."""

    account: AccountLabelRead = Field(
        description="The account's reference, its debtor's name and its collector."
    )
