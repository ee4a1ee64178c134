"""account documents and their custody

Revision ID: d0c5a1e2b7f3
Revises: 1e3ac06ae717
Create Date: 2026-11-24 22:40:00.000000+00:00
"""

from collections.abc import Sequence

revision: str = "d0c5a1e2b7f3"
down_revision: str | None = "1e3ac06ae717"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
