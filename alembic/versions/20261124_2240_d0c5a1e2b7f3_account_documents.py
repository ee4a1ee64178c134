"""account documents and their custody

Revision ID: d0c5a1e2b7f3
Revises: 1e3ac06ae717
Create Date: 2026-11-24 22:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "d0c5a1e2b7f3"
down_revision: str | None = "1e3ac06ae717"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("debtor_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("uploaded_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("custody_status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("custody_on", sa.Date(), nullable=True),
        sa.Column("custody_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("custody_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column(
            "custody_recorded_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True
        ),
        sa.Column("custody_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('signed_agreement', 'identity_document', 'proof_of_payment', "
            "'visit_photo', 'correspondence', 'other')",
            name=op.f("ck_account_document_kind"),
        ),
        sa.CheckConstraint(
            "content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
            name=op.f("ck_account_document_content_type"),
        ),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_account_document_size_bytes")),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_account_document_sha256")),
        sa.CheckConstraint(
            "custody_status IN ('digital_only', 'with_collector', 'delivered_to_office', "
            "'destroyed')",
            name=op.f("ck_account_document_custody_status"),
        ),
        sa.CheckConstraint(
            "custody_status = 'digital_only' OR (custody_on IS NOT NULL AND custody_by IS NOT "
            "NULL AND custody_recorded_by IS NOT NULL AND custody_recorded_at IS NOT NULL)",
            name=op.f("ck_account_document_custody_recorded"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_account_document_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtor.id"], name=op.f("fk_account_document_debtor_id_debtor")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_account_document_partner_id_partner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_document")),
    )
    op.create_index(
        "ix_account_document_account_id", "account_document", ["account_id", "id"], unique=False
    )
    op.create_index("ix_account_document_sha256", "account_document", ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_account_document_sha256", table_name="account_document")
    op.drop_index("ix_account_document_account_id", table_name="account_document")
    op.drop_table("account_document")
