"""Portal links: a debtor's way into the self-service portal for one account (the token
itself is never stored, only its SHA-256; app/domain/portal.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import optional_timestamp_field


class PortalLink(SQLModel, table=True):
    __tablename__ = "portal_link"
    __table_args__ = (
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
        CheckConstraint("expires_at > issued_at", name="lifetime"),
        # The account's links, newest first (a new link replaces the older ones).
        Index("ix_portal_link_account", "account_id", "issued_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    partner_id: uuid.UUID
    token_sha256: str = Field(max_length=64)
    issued_by: str = Field(max_length=80)
    issued_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    failed_attempts: int = Field(default=0)
    locked_at: datetime | None = optional_timestamp_field()
    revoked_at: datetime | None = optional_timestamp_field()
    verified_at: datetime | None = optional_timestamp_field()
    # The debtor left the portal: every session of this link opened until then is over.
    sessions_ended_at: datetime | None = optional_timestamp_field()
