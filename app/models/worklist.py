"""Work-queue claims: which collector is working which account right now, until when."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index
from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class WorklistClaim(SQLModel, table=True):
    """One row per account at most: the collector who took it with ``next`` and until when.
    An expired row is free again (the next claim overwrites it); recording an interaction
    deletes the recorder's claim."""

    __tablename__ = "worklist_claim"
    __table_args__ = (Index("ix_worklist_claim_collector", "collector_id", "expires_at"),)

    account_id: uuid.UUID = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    partner_id: uuid.UUID  # the account's, copied: the distribution key
    collector_id: uuid.UUID = Field(foreign_key="app_user.id", ondelete="CASCADE")
    claimed_at: datetime = timestamp_field()
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
