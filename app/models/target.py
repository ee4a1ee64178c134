"""Monthly recovery targets (metas de recuperación) and partners' commission terms."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, Numeric, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import timestamp_field


class RecoveryTarget(SQLModel, table=True):
    """A month's recovery target for a collector, a team or a partner, in one currency.
    Setting it again replaces the amount (the audit trail keeps the earlier one)."""

    __tablename__ = "recovery_target"
    __table_args__ = (
        UniqueConstraint("month", "scope", "scope_id", "currency", name="uq_recovery_target_scope"),
        CheckConstraint("scope IN ('collector', 'team', 'partner')", name="scope"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("EXTRACT(DAY FROM month) = 1", name="month_first_day"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("ix_recovery_target_scope", "scope", "scope_id", "month"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # The first day of the target's month.
    month: date
    scope: str = Field(max_length=16)
    # The collector's user id, the team's id or the partner's id (no foreign key: one of three).
    scope_id: uuid.UUID
    amount: Decimal = Field(sa_type=Numeric(18, 2))
    currency: str = Field(max_length=3)
    version: int = Field(default=1)
    set_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class CommissionTerms(SQLModel, table=True):
    """One version of a partner's commission terms (app/domain/commissions.py). Versions are
    never changed; a payment is paid under the latest version in effect on its date."""

    __tablename__ = "commission_terms"
    __table_args__ = (
        UniqueConstraint("partner_id", "version", name="uq_commission_terms_version"),
        CheckConstraint("clawback_days BETWEEN 0 AND 365", name="clawback_days"),
        CheckConstraint(
            "(accelerator_above_target_pct IS NULL) = (accelerator_extra_rate_pct IS NULL)",
            name="accelerator_whole",
        ),
        CheckConstraint(
            "accelerator_above_target_pct BETWEEN 0 AND 1000", name="accelerator_above_target_pct"
        ),
        CheckConstraint(
            "accelerator_extra_rate_pct > 0 AND accelerator_extra_rate_pct <= 100",
            name="accelerator_extra_rate_pct",
        ),
        Index("ix_commission_terms_effective", "partner_id", "effective_from"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    version: int
    effective_from: date
    clawback_days: int
    # The rate table [{stage, recovery_type, rate_pct}], as app.domain.commissions.terms_to_json
    # writes it; empty when volume tiers pay.
    tiers: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    # [{from_amount, rate_pct}], ascending from 0; empty when the rate table pays.
    volume_tiers: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    # The target accelerator: both set or both null.
    accelerator_above_target_pct: Decimal | None = Field(default=None, sa_type=Numeric(7, 2))
    accelerator_extra_rate_pct: Decimal | None = Field(default=None, sa_type=Numeric(5, 2))
    created_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
