"""audit_event by actor, action and time (the shared KYC search limit, audit filters)

Revision ID: d0e1f2a3b4c5
Revises: c9d0e1f2a3b4
Create Date: 2026-11-25 02:15:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d0e1f2a3b4c5"
down_revision: str | None = "c9d0e1f2a3b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Built CONCURRENTLY: every write appends to audit_event, and a plain CREATE INDEX would block
# them for as long as a large trail takes to index.


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_audit_event_actor",
            "audit_event",
            ["actor_id", "action", "occurred_at"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_audit_event_actor",
            table_name="audit_event",
            postgresql_concurrently=True,
            if_exists=True,
        )
