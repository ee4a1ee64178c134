"""debtor data access log (reveals and exports)

Revision ID: a1b2c3d4e5f6
Revises: 5ea10d1b2c3a
Create Date: 2026-11-24 23:10:00.000000+00:00
"""

from collections.abc import Sequence

revision: str = "a1b2c3d4e5f6"
down_revision: str | None = "5ea10d1b2c3a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
