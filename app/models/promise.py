"""Promises to pay (promesas de pago)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Numeric
from sqlmodel import Field, SQLModel

from app.domain.interactions import PromiseStatus
from app.ids import new_id
from app.models.base import EnumText, timestamp_field


class Promise(SQLModel, table=True):
    __tablename__ = "promise"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'kept', 'partially_kept', 'broken', 'cancelled')", name="status"
        ),
        CheckConstraint("amount > 0 AND paid_amount >= 0", name="amounts"),
        Index("ix_promise_pending_due", "status", "due_date"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True)
    partner_id: uuid.UUID
    interaction_id: uuid.UUID = Field(foreign_key="interaction.id")
    amount: Decimal = Field(sa_type=Numeric(18, 2))
    currency: str = Field(max_length=3)
    due_date: date
    status: PromiseStatus = Field(
        default=PromiseStatus.PENDING, sa_type=EnumText(PromiseStatus, 16)
    )
    paid_amount: Decimal = Field(default=Decimal("0"), sa_type=Numeric(18, 2))
    # The strategy's terms when the promise was taken, so the nightly follow-up is one
    # statement: how many days late and how short a payment may be and still keep it, and
    # after how many broken promises the account goes to management.
    grace_days: int = 0
    tolerance_pct: Decimal = Field(default=Decimal("0"), sa_type=Numeric(5, 2))
    escalate_after_broken: int | None = None
    strategy_version: int | None = None
    # The champion/challenger arm the account was in when this was recorded (null: no
    # experiment ran on its stage). app/services/experiments.py resolves it.
    experiment_arm_id: uuid.UUID | None = Field(
        default=None, foreign_key="experiment_arm.id", index=True
    )
    resolved_on: date | None = None
    created_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
