"""The access log of personal data: every reveal of unmasked values and every export."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import timestamp_field


class DebtorAccess(SQLModel, table=True):
    __tablename__ = "debtor_access"
    __table_args__ = (
        CheckConstraint("kind IN ('reveal', 'export')", name="kind"),
        Index("ix_debtor_access_debtor", "debtor_id", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    debtor_id: uuid.UUID = Field(foreign_key="debtor.id")
    kind: str = Field(max_length=8)
    # Which fields were shown (never their values).
    fields: list[str] = Field(sa_column=Column(JSONB, nullable=False))
    reason: str = Field(max_length=500)
    actor_id: str = Field(max_length=80)
    actor_role: str = Field(max_length=16)
    request_id: str | None = Field(default=None, max_length=64)
    occurred_at: datetime = timestamp_field()
    extra: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
