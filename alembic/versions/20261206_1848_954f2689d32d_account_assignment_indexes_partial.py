"""The account's collector and team indexes hold assigned accounts only

``ix_account_collector`` and ``ix_account_team`` become partial (``WHERE … IS NOT NULL``):
a push creates its accounts unassigned, and every query that reads these indexes asks for
one collector or team (``=``, ``IN``, ``= ANY``, the foreign keys' checks from ``app_user``
and ``team``), never for the unassigned, so an unassigned account's entries were written on
every intake and never read (issue 20, bench/README.md "Where the intake time goes").

Revision ID: 954f2689d32d
Revises: c938b629cf33
Create Date: 2026-12-06 18:48:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "954f2689d32d"
down_revision: str | None = "c938b629cf33"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_account_collector", "assigned_collector_id"),
    ("ix_account_team", "assigned_team_id"),
)


def upgrade() -> None:
    for name, column in INDEXES:
        op.drop_index(name, table_name="account")
        op.create_index(name, "account", [column, "id"], postgresql_where=f"{column} IS NOT NULL")


def downgrade() -> None:
    for name, column in INDEXES:
        op.drop_index(name, table_name="account")
        op.create_index(name, "account", [column, "id"])
