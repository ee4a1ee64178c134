"""Idempotency keys belong to the caller, not to the partner

Until now a key was unique per partner: the bank's system replaying a phone collector's key
for a payment got the collector's payment back (and an upload's key was shared between the
partner's system and the staff pushing for it). From here a key is unique per partner *and*
caller (the audit id that recorded or submitted the row), so another caller's key is simply
a new key. The constraints keep their names; only their columns change.

Downgrade restores the per-partner constraints; it fails if two callers have since used the
same key for one partner (those rows must be told apart by hand first).

Revision ID: d6e7f8a9b0c1
Revises: c5d6e7f8a9b0
Create Date: 2026-12-05 15:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d6e7f8a9b0c1"
down_revision: str | None = "c5d6e7f8a9b0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, the column naming the caller)
CONSTRAINTS = [
    ("payment", "uq_payment_idempotency_key", "recorded_by"),
    ("assignment", "uq_assignment_idempotency_key", "submitted_by"),
    ("payment_file", "uq_payment_file_idempotency_key", "submitted_by"),
]


def upgrade() -> None:
    for table, name, caller in CONSTRAINTS:
        op.drop_constraint(name, table, type_="unique")
        op.create_unique_constraint(name, table, ["partner_id", caller, "idempotency_key"])


def downgrade() -> None:
    for table, name, _caller in CONSTRAINTS:
        op.drop_constraint(name, table, type_="unique")
        op.create_unique_constraint(name, table, ["partner_id", "idempotency_key"])
