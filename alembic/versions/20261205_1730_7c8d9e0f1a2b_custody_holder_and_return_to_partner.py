"""Paper originals: who holds them in the field, and their return to the creditor

`custody_holder_id` names the collector holding an original while it is `with_collector`
(the floor lists the originals still in the field by collector); existing ones get the
collector who recorded the step, or else the account's collector. Custody gains a final
`returned_to_partner` step beside `destroyed`.

Downgrade refuses while an original is recorded as returned to the creditor.

Revision ID: 7c8d9e0f1a2b
Revises: af3638aa2e2a
Create Date: 2026-12-05 17:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "7c8d9e0f1a2b"
down_revision: str | None = "af3638aa2e2a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "'digital_only', 'with_collector', 'delivered_to_office', 'destroyed'"
AFTER = BEFORE + ", 'returned_to_partner'"


def upgrade() -> None:
    op.add_column("account_document", sa.Column("custody_holder_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_account_document_custody_holder_id_app_user"),
        "account_document",
        "app_user",
        ["custody_holder_id"],
        ["id"],
    )
    op.execute(
        """
        UPDATE account_document d
        SET custody_holder_id = coalesce(
            (SELECT u.id FROM app_user u
             WHERE u.id::text = d.custody_recorded_by AND u.role = 'collector'),
            (SELECT a.assigned_collector_id FROM account a WHERE a.id = d.account_id))
        WHERE d.custody_status = 'with_collector'
        """
    )
    op.create_index(
        "ix_account_document_holder",
        "account_document",
        ["custody_holder_id", "id"],
        postgresql_where=sa.text("custody_status = 'with_collector'"),
    )
    op.drop_constraint(op.f("ck_account_document_custody_status"), "account_document")
    op.create_check_constraint(
        op.f("ck_account_document_custody_status"),
        "account_document",
        f"custody_status IN ({AFTER})",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_account_document_custody_status"), "account_document")
    op.create_check_constraint(
        op.f("ck_account_document_custody_status"),
        "account_document",
        f"custody_status IN ({BEFORE})",
    )
    op.drop_index("ix_account_document_holder", table_name="account_document")
    op.drop_constraint(op.f("fk_account_document_custody_holder_id_app_user"), "account_document")
    op.drop_column("account_document", "custody_holder_id")
