"""The account ledger (app/domain/ledger.py): append-only entries in minor units."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Identity, Index, Numeric
from sqlmodel import Field, SQLModel

from app.domain.credit_movements import MovementStatus
from app.ids import new_id
from app.models.base import EnumText, optional_timestamp_field, timestamp_field


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint(
            "component IN ('principal', 'interest', 'fees', 'past_due', 'credit')",
            name="component",
        ),
        CheckConstraint(
            "kind IN ('opening', 'partner_adjustment', 'payment', 'plan_interest', 'forgiveness',"
            " 'reversal', 'credit_refund', 'credit_transfer_out')",
            name="kind",
        ),
        CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
        Index("ix_ledger_entry_account", "account_id", "seq"),
        Index("ix_ledger_entry_payment", "payment_id", postgresql_where="payment_id IS NOT NULL"),
    )

    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    account_id: uuid.UUID = Field(foreign_key="account.id")
    partner_id: uuid.UUID  # the account's, copied for reports and distribution
    currency: str = Field(max_length=3)
    component: str = Field(max_length=16)
    kind: str = Field(max_length=24)
    # Signed, in the currency's minor units: a charge is positive, a payment negative.
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The business date it belongs to (the partner's day).
    as_of: date
    occurred_at: datetime = timestamp_field()
    actor_id: str = Field(max_length=80)
    # What it belongs to: the payment, plan, push or credit movement behind it.
    payment_id: uuid.UUID | None = Field(default=None, foreign_key="payment.id")
    plan_id: uuid.UUID | None = Field(default=None, foreign_key="payment_plan.id")
    assignment_id: uuid.UUID | None = None
    credit_movement_id: uuid.UUID | None = Field(default=None, foreign_key="credit_movement.id")
    # A reversal names the entry it mirrors.
    reverses_seq: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("ledger_entry.seq"), nullable=True)
    )


class CreditMovement(SQLModel, table=True):
    """Credit ("saldo a favor") refunded to the debtor or moved to another account of the
    same debtor and partner (app/domain/credit_movements.py). Above the self-approval limit
    it waits for a second person (maker-checker); the ledger entries are written when it is
    done."""

    __tablename__ = "credit_movement"
    __table_args__ = (
        CheckConstraint("kind IN ('refund', 'transfer')", name="kind"),
        CheckConstraint("status IN ('pending_approval', 'done', 'rejected')", name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "(kind = 'transfer') = (target_account_id IS NOT NULL)", name="target_for_transfer"
        ),
        Index("ix_credit_movement_account", "account_id", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    kind: str = Field(max_length=16)
    target_account_id: uuid.UUID | None = Field(default=None, foreign_key="account.id")
    amount: Decimal = Field(sa_type=Numeric(18, 2))
    currency: str = Field(max_length=3)
    status: MovementStatus = Field(sa_type=EnumText(MovementStatus, 16))
    reason: str = Field(max_length=1000)
    # How the money left (a SPEI transfer's tracking key, a cheque number), for refunds.
    payout_reference: str | None = Field(default=None, max_length=100)
    requested_by: str = Field(max_length=80)
    requested_at: datetime = timestamp_field()
    decided_by: str | None = Field(default=None, max_length=80)
    decided_at: datetime | None = optional_timestamp_field()
    decision_note: str | None = Field(default=None, max_length=1000)
    # A transfer done: the payment the target account received.
    payment_id: uuid.UUID | None = Field(default=None, foreign_key="payment.id")
