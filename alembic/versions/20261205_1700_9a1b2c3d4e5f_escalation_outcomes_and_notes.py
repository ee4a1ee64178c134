"""Escalations close with an outcome of the catalogue, and take notes while open

An escalation's outcome was free text; it becomes a code of the catalogue
(app/domain/catalog.py `EscalationOutcome`) with the words in `outcome_note`. Outcomes
already written are kept word for word as the note of an `other` outcome. The collector who
escalated, and the staff handling it, add notes to it in `escalation_note`.

Downgrade puts each note back as the free-text outcome (the code is lost) and drops the
notes table.

Revision ID: 9a1b2c3d4e5f
Revises: d0e1f2a3b4c6
Create Date: 2026-12-05 17:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "9a1b2c3d4e5f"
down_revision: str | None = "d0e1f2a3b4c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = (
    "plan_authorised",
    "settlement_authorised",
    "strategy_changed",
    "sent_to_legal",
    "returned_to_partner",
    "dispute_referred",
    "hardship_pause",
    "no_action",
    "other",
)


def upgrade() -> None:
    op.add_column("escalation", sa.Column("outcome_note", sa.String(length=2000), nullable=True))
    op.execute(
        "UPDATE escalation SET outcome_note = left(outcome, 2000), outcome = 'other' "
        "WHERE outcome IS NOT NULL"
    )
    op.alter_column(
        "escalation",
        "outcome",
        type_=sa.String(length=32),
        existing_type=sa.String(length=1000),
        existing_nullable=True,
    )
    allowed = ", ".join(f"'{o}'" for o in OUTCOMES)
    op.create_check_constraint(
        op.f("ck_escalation_outcome"), "escalation", f"outcome IN ({allowed})"
    )
    op.create_table(
        "escalation_note",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("escalation_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.String(length=80), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalation.id"],
            name=op.f("fk_escalation_note_escalation_id_escalation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_note")),
    )
    op.create_index("ix_escalation_note_escalation", "escalation_note", ["escalation_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_escalation_note_escalation", table_name="escalation_note")
    op.drop_table("escalation_note")
    op.drop_constraint(op.f("ck_escalation_outcome"), "escalation", type_="check")
    op.alter_column(
        "escalation",
        "outcome",
        type_=sa.String(length=1000),
        existing_type=sa.String(length=32),
        existing_nullable=True,
    )
    op.execute(
        "UPDATE escalation SET outcome = coalesce(left(outcome_note, 1000), outcome) "
        "WHERE outcome IS NOT NULL"
    )
    op.drop_column("escalation", "outcome_note")
