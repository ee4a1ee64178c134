"""Teams and webhook subscriptions carry a version, their ETag, so a change can be made with
If-Match.

Revision ID: 5e8b2c7d9a41
Revises: 02ac3caaf53c
Create Date: 2026-12-06 03:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "5e8b2c7d9a41"
down_revision: str | None = "02ac3caaf53c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing teams start at version 1, as new ones do; the default only fills them in.
    for table in ("team", "webhook_subscription"):
        op.add_column(table, sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        op.alter_column(table, "version", server_default=None)


def downgrade() -> None:
    for table in ("team", "webhook_subscription"):
        op.drop_column(table, "version")
