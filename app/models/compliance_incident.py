"""Compliance incidents: a recorded contact that broke a hard rule of the contact law, kept
for a team lead or manager to look into and resolve with a note."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.compliance_incidents import IncidentStatus
from app.ids import new_id
from app.models.base import EnumText, optional_timestamp_field, timestamp_field


class ComplianceIncident(SQLModel, table=True):
    __tablename__ = "compliance_incident"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        # A resolved incident says how, by whom and when.
        CheckConstraint(
            "status = 'open' OR (resolution_note IS NOT NULL AND resolved_by IS NOT NULL "
            "AND resolved_at IS NOT NULL)",
            name="resolution",
        ),
        # The queue: open ones first, newest first, walked by keyset.
        Index("ix_compliance_incident_status_opened", "status", "opened_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True)
    # One incident per interaction: the interaction holds the verdict, the incident the case.
    interaction_id: uuid.UUID = Field(foreign_key="interaction.id", unique=True)
    partner_id: uuid.UUID
    collector_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    occurred_at: datetime = timestamp_field()
    # The law reasons broken, each {code, message, basis, citation}.
    reasons: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    pack_version: str = Field(max_length=24)
    status: IncidentStatus = Field(
        default=IncidentStatus.OPEN, sa_type=EnumText(IncidentStatus, 16)
    )
    opened_at: datetime = timestamp_field()
    resolution_note: str | None = Field(default=None, max_length=2000)
    resolved_by: str | None = Field(default=None, max_length=80)
    resolved_at: datetime | None = optional_timestamp_field()
