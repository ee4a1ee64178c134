"""Payment files (archivos de pagos) from partners: the upload, its processing status and
the reconciliation report, one line per line of the file."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    LargeBinary,
    Numeric,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.uploads import UploadStatus
from app.ids import new_id
from app.models.base import EnumText, Sealed, optional_timestamp_field, timestamp_field

# The purpose bound into a sealed payer name (app/domain/crypto.py).
PAYER_NAME = "payer_name"


class PaymentFile(SQLModel, table=True):
    __tablename__ = "payment_file"
    __table_args__ = (
        # A key is the caller's own (the partner's system or a staff user sending for it).
        UniqueConstraint(
            "partner_id",
            "submitted_by",
            "idempotency_key",
            name="uq_payment_file_idempotency_key",
        ),
        CheckConstraint(
            "status IN ('queued', 'processing', 'completed', 'completed_with_errors', 'failed')",
            name="status",
        ),
        CheckConstraint("source_format IN ('csv', 'xlsx')", name="source_format"),
        CheckConstraint("kind IN ('payments', 'spei')", name="kind"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id", index=True)
    # ``payments``: the partner's own payment file; ``spei``: a bank's SPEI statement of
    # deposits on the referenced CLABEs (app/domain/spei_files.py).
    kind: str = Field(
        default="payments", max_length=8, sa_column_kwargs={"server_default": "payments"}
    )
    idempotency_key: str = Field(max_length=200)
    body_sha256: str = Field(max_length=64)
    body_bytes: int = Field(sa_type=BigInteger)
    source_format: str = Field(max_length=8)
    currency: str = Field(max_length=3)
    status: UploadStatus = Field(default=UploadStatus.QUEUED, sa_type=EnumText(UploadStatus, 24))
    received: int = 0
    matched: int = 0
    matched_by_reference: int = 0
    # Unmatched lines applied by hand since (they leave ``unmatched``).
    matched_by_hand: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    unmatched: int = 0
    duplicates: int = 0
    rejected: int = 0
    # Money applied to accounts, and money received that found no account (to be applied
    # by hand): the two figures a treasurer reconciles against the bank statement.
    applied_amount: Decimal = Field(default=Decimal("0"), sa_type=Numeric(18, 2))
    unmatched_amount: Decimal = Field(default=Decimal("0"), sa_type=Numeric(18, 2))
    failure: str | None = Field(default=None, max_length=500)
    # The same text as its template and values, shown in each reader's language.
    failure_text: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    submitted_by: str = Field(max_length=80)
    submitted_at: datetime = timestamp_field()
    started_at: datetime | None = optional_timestamp_field()
    finished_at: datetime | None = optional_timestamp_field()
    attempts: int = 0


class PaymentFileChunk(SQLModel, table=True):
    """The uploaded file in pieces of about a megabyte, kept until the job has read it."""

    __tablename__ = "payment_file_chunk"

    payment_file_id: uuid.UUID = Field(
        sa_column=Column(
            ForeignKey("payment_file.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class PaymentFileLine(SQLModel, table=True):
    """One line of the reconciliation report: what became of that line of the file."""

    __tablename__ = "payment_file_line"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('matched', 'matched_by_reference', 'unmatched', 'duplicate', 'rejected',"
            " 'matched_by_hand')",
            name="outcome",
        ),
    )

    payment_file_id: uuid.UUID = Field(
        sa_column=Column(
            ForeignKey("payment_file.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    row_number: int = Field(primary_key=True)
    outcome: str = Field(max_length=24)
    external_ref: str | None = Field(default=None, max_length=64)
    payment_reference: str | None = Field(default=None, max_length=20)
    payer_reference: str | None = Field(default=None, max_length=100)
    amount: Decimal | None = Field(default=None, sa_type=Numeric(18, 2))
    paid_on: date | None = None
    # As the file said (or its default): a line applied by hand later keeps it.
    channel: str | None = Field(default=None, max_length=16)
    account_id: uuid.UUID | None = None
    payment_id: uuid.UUID | None = None
    # For a duplicate: the payment already made with its payer reference, if any (a
    # duplicate within the file names the earlier line in ``detail`` instead).
    duplicate_of: uuid.UUID | None = None
    detail: str | None = Field(default=None, max_length=300)  # in English
    # The same text as its template and values, shown in each reader's language.
    detail_text: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    # A SPEI deposit's ordering party: the name sealed at rest (shown masked), their bank.
    payer_name: str | None = Field(default=None, sa_column=Column(Sealed(PAYER_NAME)))
    payer_bank: str | None = Field(default=None, max_length=40)
