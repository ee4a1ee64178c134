"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.models.base import metadata as _metadata  # noqa: F401  (naming convention first)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        # Who did what lately: the shared KYC search limit, and audit reads by actor.
        Index("ix_audit_event_actor", "actor_id", "action", "occurred_at"),
    )

    # The chain order. Rows are never updated or deleted (a trigger refuses it).
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    occurred_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    actor_id: str = Field(max_length=80)
    actor_role: str = Field(max_length=16)
    action: str = Field(max_length=80)
    entity_type: str = Field(max_length=40)
    entity_id: str = Field(max_length=80)
    # None is SQL NULL (not JSON null), so "events with no before" is `before IS NULL`.
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    request_id: str | None = Field(default=None, max_length=80)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
