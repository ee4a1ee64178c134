"""Indexes for the floor's cross-account lists

GET /interactions reads newest first for one collector or for everyone, and GET /plans
filters by status (the approval inbox) newest first: without these, each page would sort
every interaction or plan the caller may see.

Revision ID: f2a3b4c5d6e8
Revises: d6e7f8a9b0c1
Create Date: 2026-12-05 16:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f2a3b4c5d6e8"
down_revision: str | None = "d6e7f8a9b0c1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_interaction_collector_time", "interaction", ["collector_id", "started_at", "id"]),
    ("ix_interaction_time", "interaction", ["started_at", "id"]),
    ("ix_payment_plan_status", "payment_plan", ["status", "id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
