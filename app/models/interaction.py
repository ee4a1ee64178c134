"""Interactions (gestiones): every contact attempt or contact, immutable once recorded, with
its PCR note, and the coaching feedback a team lead leaves on it."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import optional_timestamp_field, timestamp_field


class Interaction(SQLModel, table=True):
    __tablename__ = "interaction"
    __table_args__ = (
        CheckConstraint(
            "channel IN ('call', 'sms', 'email', 'whatsapp', 'letter', 'visit', 'portal')",
            name="channel",
        ),
        CheckConstraint("direction IN ('outbound', 'inbound')", name="direction"),
        CheckConstraint("party IN ('debtor', 'reference', 'guarantor', 'none')", name="party"),
        # The debtor's contact history across all accounts and partners, newest first.
        Index("ix_interaction_debtor_time", "debtor_id", "started_at"),
        Index("ix_interaction_account_time", "account_id", "started_at"),
        # Cross-account lists, newest first: a collector's day, and everyone's.
        Index("ix_interaction_collector_time", "collector_id", "started_at", "id"),
        Index("ix_interaction_time", "started_at", "id"),
        # The agents report: a week's interactions read from the index alone.
        Index(
            "ix_interaction_time_agents",
            "started_at",
            postgresql_include=["collector_id", "partner_id", "result_code", "id"],
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    partner_id: uuid.UUID
    debtor_id: uuid.UUID = Field(foreign_key="debtor.id")
    collector_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    channel: str = Field(max_length=16)
    direction: str = Field(max_length=8)
    # A contact point or party the partner withdraws is removed; the interaction keeps its
    # record, unlinked.
    contact_point_id: uuid.UUID | None = Field(
        default=None, foreign_key="contact_point.id", ondelete="SET NULL"
    )
    party: str = Field(max_length=16)
    related_party_id: uuid.UUID | None = Field(
        default=None, foreign_key="related_party.id", ondelete="SET NULL"
    )
    result_code: str = Field(max_length=24)
    started_at: datetime = timestamp_field()
    ended_at: datetime | None = optional_timestamp_field()
    notes: str | None = Field(default=None, max_length=4000)
    # PCR: problem (category and text), circumstance, resolution or recommendation.
    pcr_problem_category: str | None = Field(default=None, max_length=32)
    pcr_problem: str | None = Field(default=None, max_length=2000)
    pcr_circumstance: str | None = Field(default=None, max_length=2000)
    pcr_resolution: str | None = Field(default=None, max_length=2000)
    # Visits: where the collector stood and what they found.
    latitude: Decimal | None = Field(default=None, sa_type=Numeric(9, 6))
    longitude: Decimal | None = Field(default=None, sa_type=Numeric(9, 6))
    gps_accuracy_m: int | None = None
    address_verification: str | None = Field(default=None, max_length=24)
    # The GPS check of a visit (app/domain/field_routes.py): metres from the address's
    # coordinates, and whether that was beyond the tolerance (recorded anyway, flagged).
    position_distance_m: int | None = None
    position_mismatch: bool | None = None
    # Which rules the contact was checked under, and what the check found.
    pack_version: str = Field(max_length=24)
    strategy_version: int | None = None
    # The champion/challenger arm the account was in when this was recorded (null: no
    # experiment ran on its stage). app/services/experiments.py resolves it.
    experiment_arm_id: uuid.UUID | None = Field(
        default=None, foreign_key="experiment_arm.id", index=True
    )
    compliance: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # An interaction is corrected at most once; the correction replaces it in the rules.
    amends_id: uuid.UUID | None = Field(default=None, foreign_key="interaction.id", unique=True)
    # Why a lead or manager entered an outbound contact after the fact (collectors' outbound
    # contacts are entered as they end; app/domain/interactions.py, check_stamp).
    backdated_reason: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()


class InteractionFeedback(SQLModel, table=True):
    """A team lead's coaching note on an interaction."""

    __tablename__ = "interaction_feedback"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    interaction_id: uuid.UUID = Field(foreign_key="interaction.id", index=True)
    author_id: uuid.UUID = Field(foreign_key="app_user.id")
    note: str = Field(max_length=2000)
    created_at: datetime = timestamp_field()
