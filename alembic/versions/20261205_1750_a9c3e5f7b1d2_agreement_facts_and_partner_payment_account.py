"""Payment agreements keep their facts; partners say where debtors pay

``payment_plan.agreement_facts`` holds what an issued agreement states (the parties, the
amounts, the schedule, how to pay), so every later download draws the same document.
Plans issued before it have none: their next download issues the agreement anew.

``partner.payment_bank_name``, ``payment_clabe`` (18 digits), ``payment_account_holder``
and ``payment_cash_stores`` are where the creditor takes its debtors' payments, printed on
its agreements.

Revision ID: a9c3e5f7b1d2
Revises: e1f2a3b4c5d7
Create Date: 2026-12-05 17:50:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "a9c3e5f7b1d2"
down_revision: str | None = "e1f2a3b4c5d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payment_plan",
        sa.Column("agreement_facts", postgresql.JSONB(none_as_null=True), nullable=True),
    )
    op.add_column(
        "partner",
        sa.Column("payment_bank_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    )
    op.add_column(
        "partner",
        sa.Column("payment_clabe", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=True),
    )
    op.add_column(
        "partner",
        sa.Column(
            "payment_account_holder", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
        ),
    )
    op.add_column(
        "partner",
        sa.Column(
            "payment_cash_stores", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True
        ),
    )
    op.create_check_constraint(
        op.f("ck_partner_payment_clabe"), "partner", "payment_clabe ~ '^[0-9]{18}$'"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_partner_payment_clabe"), "partner", type_="check")
    op.drop_column("partner", "payment_cash_stores")
    op.drop_column("partner", "payment_account_holder")
    op.drop_column("partner", "payment_clabe")
    op.drop_column("partner", "payment_bank_name")
    op.drop_column("payment_plan", "agreement_facts")
