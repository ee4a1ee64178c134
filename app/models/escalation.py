"""Escalations: cases referred to management, the notes added while they are worked, and
the outcome they are closed with (app/domain/catalog.py `EscalationOutcome`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from app.domain.catalog import EscalationOutcome, EscalationStatus
from app.ids import new_id
from app.models.base import EnumText, optional_timestamp_field, timestamp_field

_OUTCOMES = ", ".join(f"'{o.value}'" for o in EscalationOutcome)


class Escalation(SQLModel, table=True):
    __tablename__ = "escalation"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'taken', 'resolved')", name="status"),
        CheckConstraint("source IN ('collector', 'trigger')", name="source"),
        CheckConstraint(f"outcome IN ({_OUTCOMES})", name="outcome"),
        Index("ix_escalation_status", "status", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True)
    partner_id: uuid.UUID
    source: str = Field(max_length=16)
    reason: str = Field(max_length=1000)
    trigger: str | None = Field(default=None, max_length=40)
    status: EscalationStatus = Field(
        default=EscalationStatus.OPEN, sa_type=EnumText(EscalationStatus, 16)
    )
    opened_by: str = Field(max_length=80)
    opened_at: datetime = timestamp_field()
    taken_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    taken_at: datetime | None = optional_timestamp_field()
    outcome: str | None = Field(default=None, max_length=32)
    outcome_note: str | None = Field(default=None, max_length=2000)
    resolved_at: datetime | None = optional_timestamp_field()
    strategy_version: int | None = None
    version: int = 1


class EscalationNote(SQLModel, table=True):
    """What the collector who escalated, or the staff handling it, adds while it is open."""

    __tablename__ = "escalation_note"
    __table_args__ = (Index("ix_escalation_note_escalation", "escalation_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    escalation_id: uuid.UUID = Field(foreign_key="escalation.id")
    author_id: str = Field(max_length=80)
    note: str = Field(max_length=2000)
    created_at: datetime = timestamp_field()
