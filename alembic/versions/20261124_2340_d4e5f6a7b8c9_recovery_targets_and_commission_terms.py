"""recovery targets and commission terms

Monthly recovery targets per collector, team or partner (one amount per month, scope and
currency), and partners' commission terms, versioned: tiers of rates by stage and recovery
type, and a clawback window.

Revision ID: d4e5f6a7b8c9
Revises: c3d4e5f6a7b8
Create Date: 2026-11-24 23:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "d4e5f6a7b8c9"
down_revision: str | None = "c3d4e5f6a7b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recovery_target",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("scope_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("set_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "scope IN ('collector', 'team', 'partner')", name=op.f("ck_recovery_target_scope")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_recovery_target_amount_positive")),
        sa.CheckConstraint(
            "EXTRACT(DAY FROM month) = 1", name=op.f("ck_recovery_target_month_first_day")
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_recovery_target_currency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_target")),
        sa.UniqueConstraint(
            "month", "scope", "scope_id", "currency", name="uq_recovery_target_scope"
        ),
    )
    op.create_index(
        "ix_recovery_target_scope",
        "recovery_target",
        ["scope", "scope_id", "month"],
        unique=False,
    )
    op.create_table(
        "commission_terms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("clawback_days", sa.Integer(), nullable=False),
        sa.Column("tiers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "clawback_days BETWEEN 0 AND 365", name=op.f("ck_commission_terms_clawback_days")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_commission_terms_partner_id_partner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_terms")),
        sa.UniqueConstraint("partner_id", "version", name="uq_commission_terms_version"),
    )
    op.create_index(
        "ix_commission_terms_effective",
        "commission_terms",
        ["partner_id", "effective_from"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_commission_terms_effective", table_name="commission_terms")
    op.drop_table("commission_terms")
    op.drop_index("ix_recovery_target_scope", table_name="recovery_target")
    op.drop_table("recovery_target")
