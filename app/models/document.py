"""Documents kept with an account (signed agreements, identity documents, visit photos …)
and the custody of their paper originals.

The bytes are not here: they live on disk under the data folder, addressed by their
SHA-256 (``documents/<sha[:2]>/<sha>``), so the same file uploaded twice is stored once.
This table holds what is known about each upload and where its paper original is.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Index
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import optional_timestamp_field, timestamp_field


class AccountDocument(SQLModel, table=True):
    __tablename__ = "account_document"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('signed_agreement', 'identity_document', 'proof_of_payment', "
            "'visit_photo', 'correspondence', 'other')",
            name="kind",
        ),
        CheckConstraint(
            "content_type IN ('application/pdf', 'image/jpeg', 'image/png')", name="content_type"
        ),
        CheckConstraint("size_bytes > 0", name="size_bytes"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256"),
        CheckConstraint(
            "custody_status IN ('digital_only', 'with_collector', 'delivered_to_office', "
            "'destroyed')",
            name="custody_status",
        ),
        # A paper original's custody always says since when and in whose hands.
        CheckConstraint(
            "custody_status = 'digital_only' OR (custody_on IS NOT NULL AND custody_by IS NOT "
            "NULL AND custody_recorded_by IS NOT NULL AND custody_recorded_at IS NOT NULL)",
            name="custody_recorded",
        ),
        # An account's documents, newest first (ids are time-ordered).
        Index("ix_account_document_account_id", "account_id", "id"),
        # Which documents share stored bytes (a clean-up of unreferenced files needs it).
        Index("ix_account_document_sha256", "sha256"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    # Denormalised from the account: the distribution key, and the partner's portfolio.
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    debtor_id: uuid.UUID = Field(foreign_key="debtor.id")
    kind: str = Field(max_length=24)
    title: str | None = Field(default=None, max_length=200)
    content_type: str = Field(max_length=32)
    size_bytes: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    uploaded_by: str = Field(max_length=80)
    uploaded_at: datetime = timestamp_field()

    # The paper original: ``digital_only`` until a custody step is recorded.
    custody_status: str = Field(default="digital_only", max_length=24)
    custody_on: date | None = None
    custody_by: str | None = Field(default=None, max_length=120)
    custody_note: str | None = Field(default=None, max_length=500)
    custody_recorded_by: str | None = Field(default=None, max_length=80)
    custody_recorded_at: datetime | None = optional_timestamp_field()
