"""Accounts a partner assigned, their history, and delinquency pauses."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Identity, Index, Numeric, literal_column
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.accounts import AccountStatus
from app.domain.history import HistoryKind
from app.ids import new_id
from app.models.base import EnumText, optional_timestamp_field, timestamp_field

MONEY = Numeric(18, 2)


def money_field(*, nullable: bool = False) -> Any:
    return Field(default=None if nullable else Decimal("0"), sa_type=MONEY, nullable=nullable)


class Account(SQLModel, table=True):
    __tablename__ = "account"
    # The payment serial comes from the database: read it back on insert (RETURNING).
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint(
            "product_type IN ('revolving', 'installment', 'single_payment')", name="product_type"
        ),
        CheckConstraint(
            "stage IN ('current', 'early', 'mid', 'late', 'nonaccrual', 'chargeoff')", name="stage"
        ),
        CheckConstraint("status IN ('active', 'recalled', 'closed')", name="status"),
        CheckConstraint("total = principal + interest + fees", name="total_adds_up"),
        CheckConstraint(
            "original_amount >= 0 AND principal >= 0 AND interest >= 0 AND fees >= 0"
            " AND past_due_amount >= 0",
            name="amounts_not_negative",
        ),
        CheckConstraint("credit >= 0", name="credit_not_negative"),
        Index("uq_account_partner_external_ref", "partner_id", "external_ref", unique=True),
        Index("ix_account_partner", "partner_id", "id"),
        # Partial: a pushed account starts unassigned, and every query asks for one collector
        # or team (migration 954f2689d32d).
        Index(
            "ix_account_collector",
            "assigned_collector_id",
            "id",
            postgresql_where="assigned_collector_id IS NOT NULL",
        ),
        # KYC name search (app/services/kyc.py, migration b2c3d4e5f6a7), spelled as
        # PostgreSQL shows it back.
        Index(
            "ix_account_debtor_name_trgm",
            literal_column(
                "lower(cartera_unaccent((debtor_first_names || ' ') || debtor_last_names))"
            ).label("name_key"),
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
        ),
        Index(
            "ix_account_team",
            "assigned_team_id",
            "id",
            postgresql_where="assigned_team_id IS NOT NULL",
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    external_ref: str = Field(max_length=64)
    debtor_id: uuid.UUID = Field(foreign_key="debtor.id", index=True)
    # The debtor as this partner knows them; the shared debtor row keeps the identity only.
    debtor_first_names: str = Field(max_length=120)
    debtor_last_names: str = Field(max_length=120)
    debtor_birth_date: date | None = None
    product_type: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    original_amount: Decimal = money_field()
    principal: Decimal = money_field()
    interest: Decimal = money_field()
    fees: Decimal = money_field()
    total: Decimal = money_field()
    past_due_amount: Decimal = money_field()
    # Money received beyond what was owed ("saldo a favor"): refunded or moved, never lost.
    credit: Decimal = Field(
        default=Decimal("0"), sa_type=MONEY, sa_column_kwargs={"server_default": "0"}
    )
    oldest_unpaid_due_date: date | None = None
    last_payment_date: date | None = None
    last_payment_amount: Decimal | None = money_field(nullable=True)
    dpd: int = 0
    stage: str = Field(max_length=16)
    # The business date DPD and stage were last computed for.
    aged_as_of: date
    status: AccountStatus = Field(default=AccountStatus.ACTIVE, sa_type=EnumText(AccountStatus, 16))
    # When the partner last recalled it: a push sent before that must not bring it back.
    recalled_at: datetime | None = optional_timestamp_field()
    assigned_collector_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    assigned_team_id: uuid.UUID | None = Field(default=None, foreign_key="team.id")
    # True once a pause was recorded: only those accounts pay for the paused-days lookup.
    has_pauses: bool = False
    # The serial behind the account's payment reference (app/domain/payments.py): numbered
    # by the database as accounts arrive, never reused.
    payment_serial: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, Identity(always=False), nullable=False, unique=True),
    )
    # Digest of everything the partner sent for this account: equal means "unchanged".
    content_hash: str = Field(max_length=64)
    # The push that last changed it (informational: pushes may be purged, accounts stay).
    last_assignment_id: uuid.UUID | None = None
    version: int = Field(default=1)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class AccountEvent(SQLModel, table=True):
    """One line of an account's history: created, balances, stage, assignment, status, a pause
    and its early end."""

    __tablename__ = "account_event"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{kind.value}'" for kind in HistoryKind) + ")", name="kind"
        ),
        Index("ix_account_event_account", "account_id", "seq"),
        Index("ix_account_event_stage_changes", "kind", "as_of"),
    )

    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    account_id: uuid.UUID = Field(foreign_key="account.id")
    partner_id: uuid.UUID  # the account's, copied for reports and distribution
    kind: str = Field(max_length=16)
    # The business date the change belongs to (aging's as-of date, or the day it happened).
    as_of: date
    occurred_at: datetime = timestamp_field()
    actor_id: str = Field(max_length=80)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))


class AccountPause(SQLModel, table=True):
    """While paused (dispute, hardship, legal) aging does not add days past due. A pause
    ended early keeps its dates, its last day moved to the day before it was ended: one that
    began that day covers none (``ends_on`` = ``starts_on`` − 1, only when ended)."""

    __tablename__ = "account_pause"
    __table_args__ = (
        CheckConstraint("reason IN ('dispute', 'hardship', 'legal')", name="reason"),
        CheckConstraint(
            "starts_on <= ends_on OR (ended_at IS NOT NULL AND ends_on = starts_on - 1)",
            name="dates_ordered",
        ),
        CheckConstraint("(ended_at IS NULL) = (ended_by IS NULL)", name="ended_together"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    reason: str = Field(max_length=16)
    starts_on: date
    ends_on: date
    note: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
    # Set when it was ended before its planned last day (POST /pauses/{id}/end).
    ended_at: datetime | None = optional_timestamp_field()
    ended_by: str | None = Field(default=None, max_length=80)


class AgingRun(SQLModel, table=True):
    """One run of the aging job per business date; a second run for the date finds nothing
    left to change."""

    __tablename__ = "aging_run"

    as_of: date = Field(primary_key=True)
    started_at: datetime = timestamp_field()
    finished_at: datetime = timestamp_field()
    accounts_aged: int = 0
    stage_changes: int = 0
    runs: int = 1
