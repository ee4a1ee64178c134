"""The daily portfolio snapshot ("foto de cartera"): every account as it stood at the end of
a business date, written by the nightly aging run; what the reports read instead of replaying
history."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from app.domain.accounts import AccountStatus
from app.models.base import EnumText, timestamp_field


class PortfolioSnapshot(SQLModel, table=True):
    """One account on one date. Amounts are in the currency's minor units
    (``app.domain.money.MINOR_UNITS``). No foreign keys: a million-row insert a night does
    not pay a check per row, and the rows are derived, never the source of truth.

    The primary key INCLUDEs ``stage``, ``status``, ``currency``, ``total`` and
    ``collector_id`` (migration ``c938b629cf33``): the reports read a date's rows, or one
    account's row of a date, from the key alone."""

    __tablename__ = "portfolio_snapshot"
    __table_args__ = (
        CheckConstraint(
            "stage IN ('current', 'early', 'mid', 'late', 'nonaccrual', 'chargeoff')", name="stage"
        ),
        CheckConstraint("status IN ('active', 'recalled', 'closed')", name="status"),
    )

    snapshot_date: date = Field(primary_key=True)
    account_id: uuid.UUID = Field(primary_key=True)
    partner_id: uuid.UUID
    stage: str = Field(max_length=16)
    dpd: int
    status: AccountStatus = Field(sa_type=EnumText(AccountStatus, 16))
    currency: str = Field(max_length=3)
    principal: int = Field(sa_column=Column(BigInteger, nullable=False))
    interest: int = Field(sa_column=Column(BigInteger, nullable=False))
    fees: int = Field(sa_column=Column(BigInteger, nullable=False))
    total: int = Field(sa_column=Column(BigInteger, nullable=False))
    past_due_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    collector_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None


class PortfolioSnapshotDay(SQLModel, table=True):
    """A date whose snapshot is complete: every account that had arrived by then has its
    row. Reports read snapshots only for such dates."""

    __tablename__ = "portfolio_snapshot_day"

    snapshot_date: date = Field(primary_key=True)
    taken_at: datetime = timestamp_field()
    accounts: int = 0


class PortfolioSnapshotStale(SQLModel, table=True):
    """An account whose history gained an event dated ``from_day``: its rows from that date
    on are recomputed (:func:`app.services.snapshots.refresh_stale`) before a report reads
    them. Filled by a trigger on ``account_event``, so no writer can forget it."""

    __tablename__ = "portfolio_snapshot_stale"

    account_id: uuid.UUID = Field(primary_key=True)
    from_day: date
