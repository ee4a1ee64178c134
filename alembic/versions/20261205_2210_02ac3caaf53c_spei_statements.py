"""SPEI statements as payment files

A payment file has a kind: ``payments`` (the partner's own file, as before) or ``spei`` (a
bank's statement of deposits on the accounts' referenced CLABEs). A report line of a SPEI
statement keeps the payer's name, sealed (bytea, AES-256-GCM like other personal data), and
their bank. Existing files are ``payments``.

Revision ID: 02ac3caaf53c
Revises: c4d1e9a7b3f0
Create Date: 2026-12-05 19:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "02ac3caaf53c"
down_revision: str | None = "c4d1e9a7b3f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payment_file",
        sa.Column("kind", sa.String(length=8), server_default="payments", nullable=False),
    )
    op.create_check_constraint("kind", "payment_file", "kind IN ('payments', 'spei')")
    op.add_column("payment_file_line", sa.Column("payer_name", sa.LargeBinary(), nullable=True))
    op.add_column("payment_file_line", sa.Column("payer_bank", sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column("payment_file_line", "payer_bank")
    op.drop_column("payment_file_line", "payer_name")
    op.drop_constraint(op.f("ck_payment_file_kind"), "payment_file", type_="check")
    op.drop_column("payment_file", "kind")
