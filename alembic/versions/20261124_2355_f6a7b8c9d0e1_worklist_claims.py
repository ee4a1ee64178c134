"""worklist claims

Which collector took which account with ``POST /worklists/me/next``, until when: one row per
account at most, an expired row free for the next claim.

Revision ID: f6a7b8c9d0e1
Revises: e5f6a7b8c9d0
Create Date: 2026-11-24 23:55:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "f6a7b8c9d0e1"
down_revision: str | None = "e5f6a7b8c9d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worklist_claim",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("collector_id", sa.Uuid(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_worklist_claim_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"],
            ["app_user.id"],
            name=op.f("fk_worklist_claim_collector_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_worklist_claim")),
    )
    op.create_index("ix_worklist_claim_collector", "worklist_claim", ["collector_id", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_worklist_claim_collector", table_name="worklist_claim")
    op.drop_table("worklist_claim")
