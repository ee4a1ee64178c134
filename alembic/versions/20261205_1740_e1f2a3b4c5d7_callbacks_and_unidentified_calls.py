"""callbacks and unidentified inbound calls

A RPC_CALLBACK interaction carries the time the debtor asked to be called back: a
``callback`` row holds it (the agreed instant and the debtor's zone) with the moment the
work queue takes it up (``due_at``) and how it ended (done or cancelled). A partial index
serves the queue's look-up of an account's open, due callbacks.

A trigger on ``account`` cancels an account's open callbacks when it changes collector or
stops being active, whatever statement does it (the API, allocation runs, recalls).

An inbound call whose number matches no debtor is kept in ``unidentified_call`` (the number
sealed at rest, as contact values are).

Downgrade drops both tables, the trigger and its function.

Revision ID: e1f2a3b4c5d7
Revises: 7c8d9e0f1a2b
Create Date: 2026-12-05 17:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "e1f2a3b4c5d7"
down_revision: str | None = "7c8d9e0f1a2b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "done_at IS NULL AND cancelled_at IS NULL"

CANCEL_FUNCTION = f"""
CREATE FUNCTION callback_cancel_on_account_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE callback
     SET cancelled_at = now(),
         cancel_reason = CASE WHEN NEW.status <> 'active' THEN 'account_inactive'
                              ELSE 'reassigned' END
   WHERE account_id = NEW.id AND {OPEN};
  RETURN NULL;
END
$$
"""

CANCEL_TRIGGER = """
CREATE TRIGGER callback_cancel_on_account_change
AFTER UPDATE OF assigned_collector_id, status ON account
FOR EACH ROW
WHEN (OLD.assigned_collector_id IS DISTINCT FROM NEW.assigned_collector_id
      OR (OLD.status = 'active' AND NEW.status <> 'active'))
EXECUTE FUNCTION callback_cancel_on_account_change()
"""


def upgrade() -> None:
    op.create_table(
        "callback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("debtor_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("collector_id", sa.Uuid(), nullable=True),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deferred_reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_interaction_id", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "cancel_reason IN ('reassigned', 'account_inactive', 'superseded', 'corrected')",
            name=op.f("ck_callback_cancel_reason"),
        ),
        sa.CheckConstraint(
            "(cancelled_at IS NULL) = (cancel_reason IS NULL)", name=op.f("ck_callback_cancelled")
        ),
        sa.CheckConstraint(
            "(done_at IS NULL) = (done_interaction_id IS NULL)", name=op.f("ck_callback_done")
        ),
        sa.CheckConstraint(
            "done_at IS NULL OR cancelled_at IS NULL", name=op.f("ck_callback_one_ending")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_callback_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interaction.id"],
            name=op.f("fk_callback_interaction_id_interaction"),
        ),
        sa.ForeignKeyConstraint(
            ["done_interaction_id"],
            ["interaction.id"],
            name=op.f("fk_callback_done_interaction_id_interaction"),
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["app_user.id"], name=op.f("fk_callback_collector_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback")),
        sa.UniqueConstraint("interaction_id", name=op.f("uq_callback_interaction_id")),
    )
    op.create_index(
        "ix_callback_open_due",
        "callback",
        ["account_id", "due_at"],
        postgresql_where=sa.text(OPEN),
    )
    op.create_index("ix_callback_due", "callback", ["due_at", "id"])
    op.execute(CANCEL_FUNCTION)
    op.execute(CANCEL_TRIGGER)

    op.create_table(
        "unidentified_call",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("phone", sa.LargeBinary(), nullable=True),
        sa.Column("phone_masked", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("received_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["received_by"],
            ["app_user.id"],
            name=op.f("fk_unidentified_call_received_by_app_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unidentified_call")),
    )
    op.create_index("ix_unidentified_call_started", "unidentified_call", ["started_at", "id"])
    op.create_index(op.f("ix_unidentified_call_received_by"), "unidentified_call", ["received_by"])


def downgrade() -> None:
    op.drop_index(op.f("ix_unidentified_call_received_by"), table_name="unidentified_call")
    op.drop_index("ix_unidentified_call_started", table_name="unidentified_call")
    op.drop_table("unidentified_call")
    op.execute("DROP TRIGGER callback_cancel_on_account_change ON account")
    op.execute("DROP FUNCTION callback_cancel_on_account_change()")
    op.drop_index("ix_callback_due", table_name="callback")
    op.drop_index("ix_callback_open_due", table_name="callback")
    op.drop_table("callback")
