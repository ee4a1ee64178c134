"""Pauses end early: who ended a pause and when, and the history event it writes

A delinquency pause (dispute, hardship, legal) may be ended before its planned last day
(POST /pauses/{id}/end). Its last day becomes the day before it was ended, so a pause that
began that same day covers no day at all: its ``ends_on`` is then ``starts_on - 1``, which
only an ended pause may have. ``ended_at`` and ``ended_by`` say who ended it; the account's
history gains the ``pause_ended`` event.

Downgrade fails while an ended pause covers no day (its dates are out of order for the old
constraint) or a ``pause_ended`` event exists: those rows must be dealt with by hand first.

Revision ID: d0e1f2a3b4c6
Revises: f2a3b4c5d6e8
Create Date: 2026-12-05 16:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "d0e1f2a3b4c6"
down_revision: str | None = "f2a3b4c5d6e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "'created', 'balance_changed', 'stage_changed', 'assigned', 'status_changed', 'paused'"


def upgrade() -> None:
    op.add_column("account_pause", sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "account_pause",
        sa.Column("ended_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    )
    op.drop_constraint(op.f("ck_account_pause_dates_ordered"), "account_pause", type_="check")
    op.create_check_constraint(
        op.f("ck_account_pause_dates_ordered"),
        "account_pause",
        "starts_on <= ends_on OR (ended_at IS NOT NULL AND ends_on = starts_on - 1)",
    )
    op.create_check_constraint(
        op.f("ck_account_pause_ended_together"),
        "account_pause",
        "(ended_at IS NULL) = (ended_by IS NULL)",
    )
    op.drop_constraint(op.f("ck_account_event_kind"), "account_event", type_="check")
    op.create_check_constraint(
        op.f("ck_account_event_kind"), "account_event", f"kind IN ({KINDS}, 'pause_ended')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_account_event_kind"), "account_event", type_="check")
    op.create_check_constraint(op.f("ck_account_event_kind"), "account_event", f"kind IN ({KINDS})")
    op.drop_constraint(op.f("ck_account_pause_ended_together"), "account_pause", type_="check")
    op.drop_constraint(op.f("ck_account_pause_dates_ordered"), "account_pause", type_="check")
    op.create_check_constraint(
        op.f("ck_account_pause_dates_ordered"), "account_pause", "starts_on <= ends_on"
    )
    op.drop_column("account_pause", "ended_by")
    op.drop_column("account_pause", "ended_at")
