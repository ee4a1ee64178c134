"""Documents kept with an account (signed agreements, identity documents, visit photos …),
the custody of their paper originals, and their bytes, sealed.

``account_document`` holds what is known about each upload and where its paper original
is. The bytes are a ``document_blob``: one per partner and SHA-256 (the same file uploaded
twice to one partner's accounts is stored once; another partner's copy is its own blob, so
no partner's upload can tell whether another holds a file), stored as
``document_blob_chunk`` rows of ciphertext sealed with the personal-data key ring
(:mod:`app.domain.documents`, "sealed storage"). Every API machine reads the same rows and
one database backup holds the documents with the rest.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from app.domain.documents import CustodyStatus
from app.ids import new_id
from app.models.base import EnumText, optional_timestamp_field, timestamp_field


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
            "'destroyed', 'returned_to_partner')",
            name="custody_status",
        ),
        # A paper original's custody always says since when and in whose hands.
        CheckConstraint(
            "custody_status = 'digital_only' OR (custody_on IS NOT NULL AND custody_by IS NOT "
            "NULL AND custody_recorded_by IS NOT NULL AND custody_recorded_at IS NOT NULL)",
            name="custody_recorded",
        ),
        # Originals still in the field, by the collector holding them.
        Index(
            "ix_account_document_holder",
            "custody_holder_id",
            "id",
            postgresql_where=text("custody_status = 'with_collector'"),
        ),
        # An account's documents, newest first (ids are time-ordered).
        Index("ix_account_document_account_id", "account_id", "id"),
        # Documents with the same bytes.
        Index("ix_account_document_sha256", "sha256"),
        # Which documents read a blob (the sweep of unreferenced blobs needs it).
        Index("ix_account_document_blob_id", "blob_id"),
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
    # The sealed bytes (of this document's partner, with this SHA-256).
    blob_id: uuid.UUID = Field(foreign_key="document_blob.id")
    uploaded_by: str = Field(max_length=80)
    uploaded_at: datetime = timestamp_field()

    # The paper original: ``digital_only`` until a custody step is recorded.
    custody_status: CustodyStatus = Field(
        default=CustodyStatus.DIGITAL_ONLY, sa_type=EnumText(CustodyStatus, 24)
    )
    custody_on: date | None = None
    custody_by: str | None = Field(default=None, max_length=120)
    custody_note: str | None = Field(default=None, max_length=500)
    custody_recorded_by: str | None = Field(default=None, max_length=80)
    custody_recorded_at: datetime | None = optional_timestamp_field()
    # The collector holding the original while it is ``with_collector``.
    custody_holder_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class DocumentBlob(SQLModel, table=True):
    """The bytes of one partner's documents with one SHA-256, as ``chunks`` sealed chunks."""

    __tablename__ = "document_blob"
    __table_args__ = (
        UniqueConstraint("partner_id", "sha256"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256"),
        CheckConstraint("size_bytes > 0", name="size_bytes"),
        CheckConstraint("chunks > 0", name="chunks"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # Dedup never crosses partners: the distribution key, and no cross-partner oracle.
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    sha256: str = Field(max_length=64)
    size_bytes: int = Field(sa_type=BigInteger)
    chunks: int
    created_at: datetime = timestamp_field()


class DocumentBlobChunk(SQLModel, table=True):
    """One sealed chunk (``seq`` from 0) of a blob: AES-256-GCM under ``key_id`` with its
    ``nonce``; ``ciphertext`` ends with the tag. The reference to the blob is checked at
    commit, so an upload writes its chunks as they arrive and its blob row at the end."""

    __tablename__ = "document_blob_chunk"
    __table_args__ = (
        CheckConstraint("seq >= 0", name="seq"),
        CheckConstraint("key_id BETWEEN 1 AND 255", name="key_id"),
        CheckConstraint("octet_length(nonce) = 12", name="nonce"),
        # Key rotation picks the chunks still sealed under another key.
        Index("ix_document_blob_chunk_key_id", "key_id"),
    )

    blob_id: uuid.UUID = Field(
        sa_column=Column(
            ForeignKey(
                "document_blob.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"
            ),
            primary_key=True,
            nullable=False,
        )
    )
    seq: int = Field(primary_key=True)
    key_id: int = Field(sa_type=SmallInteger)
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
