"""Champion/challenger strategy experiments

``strategy_experiment`` (one running per partner and stage) and its ``experiment_arm`` rows
(position 0 the champion; challengers carry their stage entry and share), and the arm each
interaction, promise, payment plan and payment was recorded under
(``experiment_arm_id``, null outside experiments).

Revision ID: 5beea920cc44
Revises: b7c8d9e0f1a2
Create Date: 2026-12-05 19:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "5beea920cc44"
down_revision: str | None = "b7c8d9e0f1a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RECORDED_UNDER_AN_ARM = ("interaction", "promise", "payment_plan", "payment")


def upgrade() -> None:
    op.create_table(
        "strategy_experiment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_arm_id", sa.Uuid(), nullable=True),
        sa.Column("promoted_version", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'stopped', 'promoted')",
            name=op.f("ck_strategy_experiment_status"),
        ),
        sa.CheckConstraint(
            "stage IN ('current', 'early', 'mid', 'late', 'nonaccrual', 'chargeoff')",
            name=op.f("ck_strategy_experiment_stage"),
        ),
        sa.CheckConstraint(
            "(status = 'running') = (ended_at IS NULL)",
            name=op.f("ck_strategy_experiment_ended_consistent"),
        ),
        sa.CheckConstraint(
            "(status = 'promoted') = (promoted_version IS NOT NULL)",
            name=op.f("ck_strategy_experiment_promoted_consistent"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_strategy_experiment_partner_id_partner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_experiment")),
    )
    op.create_index(
        "uq_strategy_experiment_running",
        "strategy_experiment",
        ["partner_id", "stage"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index("ix_strategy_experiment_partner", "strategy_experiment", ["partner_id", "id"])
    op.create_table(
        "experiment_arm",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("share_pct", sa.Numeric(5, 2), nullable=False),
        sa.Column("bucket_low", sa.Integer(), nullable=False),
        sa.Column("bucket_high", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "share_pct > 0 AND share_pct <= 100", name=op.f("ck_experiment_arm_share")
        ),
        sa.CheckConstraint(
            "0 <= bucket_low AND bucket_low < bucket_high AND bucket_high <= 10000",
            name=op.f("ck_experiment_arm_buckets"),
        ),
        sa.CheckConstraint(
            "(position = 0) = (document IS NULL)",
            name=op.f("ck_experiment_arm_champion_has_no_document"),
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["strategy_experiment.id"],
            name=op.f("fk_experiment_arm_experiment_id_strategy_experiment"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_experiment_arm_partner_id_partner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_arm")),
        sa.UniqueConstraint("experiment_id", "position", name=op.f("uq_experiment_arm_position")),
    )
    op.create_index(op.f("ix_experiment_arm_experiment_id"), "experiment_arm", ["experiment_id"])
    for table in _RECORDED_UNDER_AN_ARM:
        op.add_column(table, sa.Column("experiment_arm_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            op.f(f"fk_{table}_experiment_arm_id_experiment_arm"),
            table,
            "experiment_arm",
            ["experiment_arm_id"],
            ["id"],
        )
        op.create_index(op.f(f"ix_{table}_experiment_arm_id"), table, ["experiment_arm_id"])


def downgrade() -> None:
    for table in reversed(_RECORDED_UNDER_AN_ARM):
        op.drop_index(op.f(f"ix_{table}_experiment_arm_id"), table_name=table)
        op.drop_constraint(
            op.f(f"fk_{table}_experiment_arm_id_experiment_arm"), table, type_="foreignkey"
        )
        op.drop_column(table, "experiment_arm_id")
    op.drop_index(op.f("ix_experiment_arm_experiment_id"), table_name="experiment_arm")
    op.drop_table("experiment_arm")
    op.drop_index("ix_strategy_experiment_partner", table_name="strategy_experiment")
    op.drop_index("uq_strategy_experiment_running", table_name="strategy_experiment")
    op.drop_table("strategy_experiment")
