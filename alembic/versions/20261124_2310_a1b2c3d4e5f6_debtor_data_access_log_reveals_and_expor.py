"""debtor data access log (reveals and exports)

Revision ID: a1b2c3d4e5f6
Revises: 5ea10d1b2c3a
Create Date: 2026-11-24 23:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "a1b2c3d4e5f6"
down_revision: str | None = "5ea10d1b2c3a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "debtor_access",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("debtor_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extra", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint("kind IN ('reveal', 'export')", name=op.f("ck_debtor_access_kind")),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtor.id"], name=op.f("fk_debtor_access_debtor_id_debtor")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debtor_access")),
    )
    op.create_index("ix_debtor_access_debtor", "debtor_access", ["debtor_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_debtor_access_debtor", table_name="debtor_access")
    op.drop_table("debtor_access")
