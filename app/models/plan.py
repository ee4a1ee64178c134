"""Payment plans (convenios): the agreed terms, who proposed and decided them, and the
installment schedule they are followed by."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, Numeric, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.payments import InstallmentStatus
from app.domain.plans import PlanStatus
from app.domain.roles import Role
from app.domain.strategies import PlanType
from app.ids import new_id
from app.models.base import EnumText, optional_timestamp_field, timestamp_field

# A plan in one of these statuses holds the account: at most one per account.
OPEN_STATUSES = ("proposed", "pending_approval", "active")


class PaymentPlan(SQLModel, table=True):
    __tablename__ = "payment_plan"
    __table_args__ = (
        CheckConstraint(
            "status IN ('proposed', 'pending_approval', 'active', 'rejected', 'cancelled', "
            "'completed', 'broken')",
            name="status",
        ),
        CheckConstraint(
            "plan_type IN ('regularization', 'restructuring', 'settlement')", name="plan_type"
        ),
        CheckConstraint(
            "approver_role IN ('collector', 'team_lead', 'manager', 'admin')", name="approver_role"
        ),
        CheckConstraint(
            "agreed_total > 0 AND financed > 0 AND forgiven >= 0 AND down_payment >= 0",
            name="amounts",
        ),
        Index(
            "uq_payment_plan_open_per_account",
            "account_id",
            unique=True,
            postgresql_where=text("status IN ('proposed', 'pending_approval', 'active')"),
        ),
        Index("ix_payment_plan_account_id", "account_id", "id"),
        # The approval inbox (GET /plans?status=pending_approval), newest first.
        Index("ix_payment_plan_status", "status", "id"),
        CheckConstraint("(proposed_by IS NULL) <> (portal_link_id IS NULL)", name="proposer"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    partner_id: uuid.UUID
    plan_type: PlanType = Field(sa_type=EnumText(PlanType, 16))
    status: PlanStatus = Field(sa_type=EnumText(PlanStatus, 16))
    # The quote request the plan was made from, as received (JSON).
    terms: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # The strategy limits the terms broke when proposed: [{code, message}].
    breaches: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    agreed_total: Decimal = Field(sa_type=Numeric(18, 2))
    financed: Decimal = Field(sa_type=Numeric(18, 2))
    interest_total: Decimal = Field(default=Decimal("0"), sa_type=Numeric(18, 2))
    forgiven: Decimal = Field(default=Decimal("0"), sa_type=Numeric(18, 2))
    down_payment: Decimal = Field(default=Decimal("0"), sa_type=Numeric(18, 2))
    currency: str = Field(max_length=3)
    quoted_on: date
    strategy_version: int
    # The champion/challenger arm the account was in when this was recorded (null: no
    # experiment ran on its stage). app/services/experiments.py resolves it.
    experiment_arm_id: uuid.UUID | None = Field(
        default=None, foreign_key="experiment_arm.id", index=True
    )
    approver_role: Role = Field(sa_type=EnumText(Role, 16))
    # When it breaks, from the strategy it was agreed under (app.domain.plans.BreakingRule).
    missed_installments_to_break: int = Field(default=2, sa_column_kwargs={"server_default": "2"})
    days_late_to_break: int = Field(default=30, sa_column_kwargs={"server_default": "30"})
    # Null when the debtor accepted the plan in the self-service portal (``portal_link_id``).
    proposed_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    portal_link_id: uuid.UUID | None = Field(default=None, foreign_key="portal_link.id")
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    decided_at: datetime | None = optional_timestamp_field()
    decision_note: str | None = Field(default=None, max_length=2000)
    cancelled_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    cancelled_at: datetime | None = optional_timestamp_field()
    # The agreement as issued: its facts (app.domain.agreements.AgreementFacts, as JSON),
    # drawn again on every download, and the SHA-256 of the PDF first issued.
    agreement_facts: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONB(none_as_null=True))
    )
    agreement_sha256: str | None = Field(default=None, max_length=64)
    version: int = Field(default=1)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class PlanInstallment(SQLModel, table=True):
    """One obligation of a plan: number 0 is the down payment ("enganche"), due on its own
    date; 1… are the installments."""

    __tablename__ = "plan_installment"
    __table_args__ = (
        UniqueConstraint("plan_id", "number", name="uq_plan_installment_plan_number"),
        CheckConstraint("status IN ('pending', 'paid', 'partially_paid')", name="status"),
        CheckConstraint("number >= 0 AND amount > 0 AND paid_amount >= 0", name="amounts"),
        Index("ix_plan_installment_pending_due", "status", "due_date"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    plan_id: uuid.UUID = Field(foreign_key="payment_plan.id")
    number: int
    due_date: date
    amount: Decimal = Field(sa_type=Numeric(18, 2))
    principal: Decimal | None = Field(default=None, sa_type=Numeric(18, 2))
    interest: Decimal | None = Field(default=None, sa_type=Numeric(18, 2))
    paid_amount: Decimal = Field(default=Decimal("0"), sa_type=Numeric(18, 2))
    status: InstallmentStatus = Field(
        default=InstallmentStatus.PENDING, sa_type=EnumText(InstallmentStatus, 16)
    )
