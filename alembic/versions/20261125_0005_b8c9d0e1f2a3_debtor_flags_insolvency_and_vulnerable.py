"""debtor flags: insolvency and vulnerable

Revision ID: b8c9d0e1f2a3
Revises: a7b8c9d0e1f2
Create Date: 2026-11-25 00:05:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b8c9d0e1f2a3"
down_revision: str | None = "a7b8c9d0e1f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "kind IN ('cease_contact', 'dispute', 'deceased', 'attorney', 'minor', 'older_adult')"
NEW = (
    "kind IN ('cease_contact', 'dispute', 'deceased', 'attorney', 'minor', "
    "'older_adult', 'insolvency', 'vulnerable')"
)


def upgrade() -> None:
    op.drop_constraint(op.f("ck_debtor_flag_kind"), "debtor_flag", type_="check")
    op.create_check_constraint("kind", "debtor_flag", NEW)


def downgrade() -> None:
    op.execute("DELETE FROM debtor_flag WHERE kind IN ('insolvency', 'vulnerable')")
    op.drop_constraint(op.f("ck_debtor_flag_kind"), "debtor_flag", type_="check")
    op.create_check_constraint("kind", "debtor_flag", OLD)
