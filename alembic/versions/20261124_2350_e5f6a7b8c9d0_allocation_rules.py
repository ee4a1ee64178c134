"""allocation rules

Allocation rules (which accounts go to which team or collector, by partner, stage, product
type, territory, skill and capacity) and, per account, what allocation last set on it, so
a run can tell an assignment made by hand from its own.

Revision ID: e5f6a7b8c9d0
Revises: d4e5f6a7b8c9
Create Date: 2026-11-24 23:50:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "e5f6a7b8c9d0"
down_revision: str | None = "d4e5f6a7b8c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "allocation_rule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("stages", sa.ARRAY(sa.String(length=16)), server_default="{}", nullable=False),
        sa.Column(
            "product_types", sa.ARRAY(sa.String(length=16)), server_default="{}", nullable=False
        ),
        sa.Column("skill", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("states", sa.ARRAY(sa.String(length=60)), server_default="{}", nullable=False),
        sa.Column(
            "municipalities", sa.ARRAY(sa.String(length=120)), server_default="{}", nullable=False
        ),
        sa.Column(
            "postal_prefixes", sa.ARRAY(sa.String(length=10)), server_default="{}", nullable=False
        ),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("collector_id", sa.Uuid(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("skill IN ('phone', 'field')", name=op.f("ck_allocation_rule_skill")),
        sa.CheckConstraint(
            "capacity BETWEEN 1 AND 100000", name=op.f("ck_allocation_rule_capacity")
        ),
        sa.CheckConstraint(
            "priority BETWEEN 0 AND 1000000", name=op.f("ck_allocation_rule_priority")
        ),
        sa.CheckConstraint(
            "(team_id IS NULL) <> (collector_id IS NULL)",
            name=op.f("ck_allocation_rule_one_target"),
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["app_user.id"], name=op.f("fk_allocation_rule_collector_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_allocation_rule_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["team.id"], name=op.f("fk_allocation_rule_team_id_team")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_rule")),
    )
    op.create_index("ix_allocation_rule_order", "allocation_rule", ["priority", "id"], unique=False)
    op.create_table(
        "account_allocation",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("collector_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_allocation_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["allocation_rule.id"],
            name=op.f("fk_account_allocation_rule_id_allocation_rule"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_allocation")),
    )
    op.create_index(
        op.f("ix_account_allocation_rule_id"), "account_allocation", ["rule_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_account_allocation_rule_id"), table_name="account_allocation")
    op.drop_table("account_allocation")
    op.drop_index("ix_allocation_rule_order", table_name="allocation_rule")
    op.drop_table("allocation_rule")
