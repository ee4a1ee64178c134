"""Assignment pushes (asignaciones): the upload, its processing status and rejected rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    LargeBinary,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.uploads import UploadStatus
from app.ids import new_id
from app.models.base import EnumText, optional_timestamp_field, timestamp_field


class Assignment(SQLModel, table=True):
    __tablename__ = "assignment"
    __table_args__ = (
        # A key is the caller's own (the partner's system or a staff user pushing for it).
        UniqueConstraint(
            "partner_id", "submitted_by", "idempotency_key", name="uq_assignment_idempotency_key"
        ),
        CheckConstraint(
            "status IN ('queued', 'processing', 'completed', 'completed_with_errors', 'failed')",
            name="status",
        ),
        CheckConstraint("source_format IN ('json', 'csv', 'xlsx')", name="source_format"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id", index=True)
    idempotency_key: str = Field(max_length=200)
    # sha256 of the body: a replay with another body under the same key is refused.
    body_sha256: str = Field(max_length=64)
    body_bytes: int = Field(sa_type=BigInteger)
    source_format: str = Field(max_length=8)
    status: UploadStatus = Field(default=UploadStatus.QUEUED, sa_type=EnumText(UploadStatus, 24))
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    failure: str | None = Field(default=None, max_length=500)
    # The same text as its template and values, shown in each reader's language.
    failure_text: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    submitted_by: str = Field(max_length=80)
    submitted_at: datetime = timestamp_field()
    started_at: datetime | None = optional_timestamp_field()
    finished_at: datetime | None = optional_timestamp_field()
    # Lease of the worker processing it; a lapsed lease lets another worker take over.
    lease_until: datetime | None = optional_timestamp_field()
    attempts: int = 0


class AssignmentChunk(SQLModel, table=True):
    """The uploaded body in pieces of about a megabyte, kept until the job has read it."""

    __tablename__ = "assignment_chunk"

    assignment_id: uuid.UUID = Field(
        sa_column=Column(
            ForeignKey("assignment.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AssignmentRejection(SQLModel, table=True):
    __tablename__ = "assignment_rejection"

    assignment_id: uuid.UUID = Field(
        sa_column=Column(
            ForeignKey("assignment.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    row_number: int = Field(primary_key=True)
    seq: int = Field(default=0, primary_key=True)
    external_ref: str | None = Field(default=None, max_length=64)
    field: str = Field(max_length=80)
    message: str = Field(max_length=300)  # in English
    # The same text as its template and values, shown in each reader's language.
    message_text: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
