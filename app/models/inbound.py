"""Inbound calls that matched no debtor ("llamada entrante sin identificar"), kept for the
team lead (use cases: app/services/inbound.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import Sealed, timestamp_field
from app.models.debtor import CONTACT


class UnidentifiedCall(SQLModel, table=True):
    """Who took the call, when, the caller's number (E.164, sealed at rest, shown masked;
    null when the number was withheld) and what was said."""

    __tablename__ = "unidentified_call"
    __table_args__ = (Index("ix_unidentified_call_started", "started_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    phone: str | None = Field(default=None, sa_column=Column(Sealed(CONTACT), nullable=True))
    phone_masked: str | None = Field(default=None, max_length=80)
    started_at: datetime = timestamp_field()
    notes: str | None = Field(default=None, max_length=2000)
    received_by: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = timestamp_field()
