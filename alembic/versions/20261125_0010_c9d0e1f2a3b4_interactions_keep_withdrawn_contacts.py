"""interactions keep their record when the partner withdraws a contact point or party

Revision ID: c9d0e1f2a3b4
Revises: b8c9d0e1f2a3
Create Date: 2026-11-25 00:10:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c9d0e1f2a3b4"
down_revision: str | None = "b8c9d0e1f2a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKS = (
    ("fk_interaction_contact_point_id_contact_point", "contact_point", "contact_point_id"),
    ("fk_interaction_related_party_id_related_party", "related_party", "related_party_id"),
)


def _relink(ondelete: str | None) -> None:
    for name, table, column in LINKS:
        op.drop_constraint(op.f(name), "interaction", type_="foreignkey")
        op.create_foreign_key(op.f(name), "interaction", table, [column], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _relink("SET NULL")


def downgrade() -> None:
    _relink(None)
