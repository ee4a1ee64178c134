"""The portfolio snapshot's primary key carries the columns the reports read

Roll rates, recovery and agents read one or two dates of ``portfolio_snapshot`` (a million
rows each, in a table holding every date taken) and, per payment, one account's row of one
date. The key ``(snapshot_date, account_id)`` now INCLUDEs ``stage``, ``status``,
``currency``, ``total`` and ``collector_id``, so those reads are index-only scans of the key
range of their date: PostgreSQL did not use the key for a whole date (its estimate of the
table pages a range visits ignores that a date's rows lie together) and scanned every date
instead. Index-only scans skip the table only on pages marked all-visible, so the table is
vacuumed after each night's insert (a threshold of 100,000 inserted rows instead of a fifth
of the table).

Downgrade restores the plain key and the default vacuum thresholds.

Revision ID: c938b629cf33
Revises: 3b4d02bebd19
Create Date: 2026-12-06 18:30:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c938b629cf33"
down_revision: str | None = "3b4d02bebd19"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCLUDED = "stage, status, currency, total, collector_id"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE portfolio_snapshot DROP CONSTRAINT pk_portfolio_snapshot,"
        " ADD CONSTRAINT pk_portfolio_snapshot PRIMARY KEY (snapshot_date, account_id)"
        f" INCLUDE ({INCLUDED})"
    )
    op.execute(
        "ALTER TABLE portfolio_snapshot SET (autovacuum_vacuum_insert_threshold = 100000,"
        " autovacuum_vacuum_insert_scale_factor = 0)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE portfolio_snapshot RESET (autovacuum_vacuum_insert_threshold,"
        " autovacuum_vacuum_insert_scale_factor)"
    )
    op.execute(
        "ALTER TABLE portfolio_snapshot DROP CONSTRAINT pk_portfolio_snapshot,"
        " ADD CONSTRAINT pk_portfolio_snapshot PRIMARY KEY (snapshot_date, account_id)"
    )
