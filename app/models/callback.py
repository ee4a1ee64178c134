"""Callbacks: a call the debtor asked for at a time, agreed in a RPC_CALLBACK interaction
(rules: app/domain/callbacks.py; use cases: app/services/callbacks.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import optional_timestamp_field, timestamp_field

# An open callback: neither done nor cancelled.
OPEN = "done_at IS NULL AND cancelled_at IS NULL"


class Callback(SQLModel, table=True):
    """One per RPC_CALLBACK interaction. ``agreed_at`` is the instant of the local time the
    debtor stated on ``time_zone``'s clock; ``due_at`` is when the work queue takes it up
    (the agreed instant, or the contact law's next allowed moment, ``deferred_reasons``
    saying why). ``collector_id`` is whose queue it heads: the account's collector when it
    was agreed.

    A callback ends done (``done_at``, by the first interaction on the account that started
    at or after ``due_at``) or cancelled (``cancelled_at`` and ``cancel_reason``). When the
    account changes collector or stops being active, a trigger on ``account`` (migration
    e1f2a3b4c5d7) cancels its open callbacks: every path that reassigns, recalls or closes
    accounts (the API, allocation's and recalls' set-based statements) is covered by it."""

    __tablename__ = "callback"
    __table_args__ = (
        CheckConstraint(
            "cancel_reason IN ('reassigned', 'account_inactive', 'superseded', 'corrected')",
            name="cancel_reason",
        ),
        CheckConstraint("(cancelled_at IS NULL) = (cancel_reason IS NULL)", name="cancelled"),
        CheckConstraint("(done_at IS NULL) = (done_interaction_id IS NULL)", name="done"),
        CheckConstraint("done_at IS NULL OR cancelled_at IS NULL", name="one_ending"),
        # The work queue: an account's open callbacks that are due (account, due time).
        Index("ix_callback_open_due", "account_id", "due_at", postgresql_where=text(OPEN)),
        # The lists, newest due first, walked by keyset.
        Index("ix_callback_due", "due_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    partner_id: uuid.UUID  # the account's, copied: the distribution key
    debtor_id: uuid.UUID
    interaction_id: uuid.UUID = Field(foreign_key="interaction.id", unique=True)
    collector_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    agreed_at: datetime = timestamp_field()
    time_zone: str = Field(max_length=64)
    due_at: datetime = timestamp_field()
    # Why the queue could not take it up at the agreed instant, each {code, message, hard,
    # basis, citation} as on an interaction's verdict; empty when it could.
    deferred_reasons: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False)
    )
    done_at: datetime | None = optional_timestamp_field()
    done_interaction_id: uuid.UUID | None = Field(default=None, foreign_key="interaction.id")
    cancelled_at: datetime | None = optional_timestamp_field()
    cancel_reason: str | None = Field(default=None, max_length=16)
    created_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
