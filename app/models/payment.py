"""Payments (pagos) received for an account, what each one did, and their reversal."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, Numeric, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.payments import PaymentStatus
from app.ids import new_id
from app.models.base import EnumText, optional_timestamp_field, timestamp_field


class Payment(SQLModel, table=True):
    __tablename__ = "payment"
    __table_args__ = (
        # A key is the caller's own: another caller's key is a new key, never their payment.
        UniqueConstraint(
            "partner_id", "recorded_by", "idempotency_key", name="uq_payment_idempotency_key"
        ),
        UniqueConstraint("partner_id", "payer_reference", name="uq_payment_payer_reference"),
        CheckConstraint("amount > 0 AND credit_amount >= 0", name="amounts"),
        CheckConstraint(
            "channel IN ('spei', 'cash_store', 'card', 'branch', 'partner_report',"
            " 'credit_transfer')",
            name="channel",
        ),
        CheckConstraint("status IN ('applied', 'reversed')", name="status"),
        CheckConstraint(
            "(status = 'reversed') = (reversed_at IS NOT NULL)", name="reversed_consistent"
        ),
        Index("ix_payment_account", "account_id", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    amount: Decimal = Field(sa_type=Numeric(18, 2))
    currency: str = Field(max_length=3)
    paid_on: date
    # ``credit_transfer``: credit moved from another account of the debtor (never sent by a
    # client; app/services/credit_movements.py makes it).
    channel: str = Field(max_length=16)
    # The payer's own reference (SPEI tracking key, store ticket): unique per partner.
    payer_reference: str | None = Field(default=None, max_length=100)
    idempotency_key: str = Field(max_length=200)
    # sha256 of the canonical request: a replay with another body under the key is refused.
    body_sha256: str = Field(max_length=64)
    status: PaymentStatus = Field(
        default=PaymentStatus.APPLIED, sa_type=EnumText(PaymentStatus, 16)
    )
    # Exactly what the payment did (app.domain.payments.Allocation.as_json), so a reversal
    # undoes that and nothing else.
    allocation: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    credit_amount: Decimal = Field(default=Decimal("0"), sa_type=Numeric(18, 2))
    recorded_by: str = Field(max_length=80)
    # The partner's payment file it came in, when it came in one.
    payment_file_id: uuid.UUID | None = Field(default=None, foreign_key="payment_file.id")
    # The champion/challenger arm the account was in when this was recorded (null: no
    # experiment ran on its stage). app/services/experiments.py resolves it.
    experiment_arm_id: uuid.UUID | None = Field(
        default=None, foreign_key="experiment_arm.id", index=True
    )
    created_at: datetime = timestamp_field()
    reversed_at: datetime | None = optional_timestamp_field()
    reversed_by: str | None = Field(default=None, max_length=80)
    reversal_reason: str | None = Field(default=None, max_length=1000)
