"""Portal links remember when the debtor left the portal: sessions opened until then are over.

Revision ID: c4d1e9a7b3f0
Revises: 733b85c9c660
Create Date: 2026-12-05 21:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "c4d1e9a7b3f0"
down_revision: str | None = "733b85c9c660"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "portal_link",
        sa.Column("sessions_ended_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("portal_link", "sessions_ended_at")
