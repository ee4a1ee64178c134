"""The daily portfolio snapshot ("foto de cartera") and the marks of back-dated changes

``portfolio_snapshot`` holds every account as at the end of a business date (written by the
nightly aging), ``portfolio_snapshot_day`` the dates taken, ``portfolio_snapshot_stale`` the
accounts whose history gained an event dated on or before the latest date taken (from that
date, or from the first date when the event is the account's earliest of its kind). The marks
come from a statement-level trigger on ``account_event`` (transition table), so every writer,
row by row or set-based, marks what it back-dates.

``ix_interaction_time_agents`` lets the agents report read a week's interactions from the
index alone (started_at, with collector, partner, result code and id included).

Downgrade drops the index, the trigger, its function and the three tables (the snapshots are derived
from history and can be taken again).

Revision ID: 082759a4ed7b
Revises: 5e8b2c7d9a41
Create Date: 2026-12-06 02:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "082759a4ed7b"
down_revision: str | None = "5e8b2c7d9a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MARK_FUNCTION = """
CREATE FUNCTION portfolio_snapshot_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    latest date := (SELECT max(snapshot_date) FROM portfolio_snapshot_day);
BEGIN
    IF latest IS NULL THEN
        RETURN NULL;
    END IF;
    -- From the event's date on; from the first date when it is the account's earliest event
    -- of its kind, because then its "before" is what history says of the days before it.
    INSERT INTO portfolio_snapshot_stale (account_id, from_day)
    SELECT n.account_id,
           min(CASE WHEN EXISTS (SELECT 1 FROM account_event e
                                 WHERE e.account_id = n.account_id AND e.kind = n.kind
                                   AND e.as_of <= n.as_of AND e.seq < n.seq)
                    THEN n.as_of ELSE DATE '-infinity' END)
    FROM new_events n
    WHERE n.as_of <= latest
    GROUP BY n.account_id
    ON CONFLICT (account_id) DO UPDATE
    SET from_day = LEAST(portfolio_snapshot_stale.from_day, EXCLUDED.from_day);
    RETURN NULL;
END
$$
"""

_MARK_TRIGGER = """
CREATE TRIGGER account_event_marks_snapshots
AFTER INSERT ON account_event
REFERENCING NEW TABLE AS new_events
FOR EACH STATEMENT EXECUTE FUNCTION portfolio_snapshot_mark_stale()
"""


def upgrade() -> None:
    op.create_table(
        "portfolio_snapshot",
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("past_due_amount", sa.BigInteger(), nullable=False),
        sa.Column("collector_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "stage IN ('current', 'early', 'mid', 'late', 'nonaccrual', 'chargeoff')",
            name=op.f("ck_portfolio_snapshot_stage"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'recalled', 'closed')", name=op.f("ck_portfolio_snapshot_status")
        ),
        sa.PrimaryKeyConstraint("snapshot_date", "account_id", name=op.f("pk_portfolio_snapshot")),
    )
    op.create_table(
        "portfolio_snapshot_day",
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_date", name=op.f("pk_portfolio_snapshot_day")),
    )
    op.create_table(
        "portfolio_snapshot_stale",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("from_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_portfolio_snapshot_stale")),
    )
    op.execute(_MARK_FUNCTION)
    op.execute(_MARK_TRIGGER)
    op.create_index(
        "ix_interaction_time_agents",
        "interaction",
        ["started_at"],
        postgresql_include=["collector_id", "partner_id", "result_code", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_interaction_time_agents", table_name="interaction")
    op.execute("DROP TRIGGER account_event_marks_snapshots ON account_event")
    op.execute("DROP FUNCTION portfolio_snapshot_mark_stale()")
    op.drop_table("portfolio_snapshot_stale")
    op.drop_table("portfolio_snapshot_day")
    op.drop_table("portfolio_snapshot")
