"""Rate limits counted in PostgreSQL, so that every API process shares them

``rate_limit_hit`` keeps the events a limit admitted (a bucket, such as the debtor portal's
session attempts, and a key, such as the client address) at the database's clock; a limit
reads a key's events in its window under an advisory lock. Before, the portal's limit per
address was counted in each process's memory, so N processes allowed N times the limit.

Downgrade drops the table (its rows are only the last minute's events).

Revision ID: 10a78b71e08c
Revises: 082759a4ed7b
Create Date: 2026-12-06 05:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "10a78b71e08c"
down_revision: str | None = "082759a4ed7b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hit",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_hit")),
    )
    op.create_index(
        "ix_rate_limit_hit_bucket_key_at", "rate_limit_hit", ["bucket", "key", "at"], unique=False
    )
    op.create_index("ix_rate_limit_hit_bucket_at", "rate_limit_hit", ["bucket", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rate_limit_hit_bucket_at", table_name="rate_limit_hit")
    op.drop_index("ix_rate_limit_hit_bucket_key_at", table_name="rate_limit_hit")
    op.drop_table("rate_limit_hit")
