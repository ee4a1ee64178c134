"""commission terms: volume tiers, a target accelerator, four recovery types

Commission terms gain volume tiers (marginal bands of the collector's month's base, JSONB)
and a target accelerator (two numeric columns, both set or both null). The rate table's
recovery types become four: ``plan`` is renamed ``plan_installment``, and ``full_payment``,
which used to mean any payment outside a plan, is split into ``full_payment`` and
``partial_payment``: every stored ``full_payment`` rate gets a ``partial_payment`` copy, so
stored terms pay exactly as before.

Downgrade drops the new columns and undoes the renaming (the ``partial_payment`` rates go,
the ``full_payment`` ones stand for both again). It is lossy for terms written after the
upgrade: a version paid by volume tiers keeps one catch-all rate, its first band's, and a
table left empty gets a catch-all 0 %, so the old code can still read every version.

Revision ID: f2a3b4c5d6e7
Revises: e1f2a3b4c5d6
Create Date: 2026-12-05 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "f2a3b4c5d6e7"
down_revision: str | None = "e1f2a3b4c5d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "commission_terms",
        sa.Column(
            "volume_tiers",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "commission_terms",
        sa.Column("accelerator_above_target_pct", sa.Numeric(precision=7, scale=2), nullable=True),
    )
    op.add_column(
        "commission_terms",
        sa.Column("accelerator_extra_rate_pct", sa.Numeric(precision=5, scale=2), nullable=True),
    )
    op.create_check_constraint(
        op.f("ck_commission_terms_accelerator_whole"),
        "commission_terms",
        "(accelerator_above_target_pct IS NULL) = (accelerator_extra_rate_pct IS NULL)",
    )
    op.create_check_constraint(
        op.f("ck_commission_terms_accelerator_above_target_pct"),
        "commission_terms",
        "accelerator_above_target_pct BETWEEN 0 AND 1000",
    )
    op.create_check_constraint(
        op.f("ck_commission_terms_accelerator_extra_rate_pct"),
        "commission_terms",
        "accelerator_extra_rate_pct > 0 AND accelerator_extra_rate_pct <= 100",
    )
    # plan → plan_installment; each full_payment rate also for partial_payment, next to it.
    op.execute(
        """
        UPDATE commission_terms ct SET tiers = (
            SELECT COALESCE(jsonb_agg(x.tier ORDER BY x.ord, x.sub), '[]'::jsonb)
            FROM (
                SELECT e.ord, 0 AS sub,
                       CASE WHEN e.tier ->> 'recovery_type' = 'plan'
                            THEN jsonb_set(e.tier, '{recovery_type}', '"plan_installment"')
                            ELSE e.tier END AS tier
                FROM jsonb_array_elements(ct.tiers) WITH ORDINALITY AS e(tier, ord)
                UNION ALL
                SELECT e.ord, 1, jsonb_set(e.tier, '{recovery_type}', '"partial_payment"')
                FROM jsonb_array_elements(ct.tiers) WITH ORDINALITY AS e(tier, ord)
                WHERE e.tier ->> 'recovery_type' = 'full_payment'
            ) x
        )
        WHERE ct.tiers @> '[{"recovery_type": "plan"}]'
           OR ct.tiers @> '[{"recovery_type": "full_payment"}]'
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE commission_terms ct SET tiers = (
            SELECT COALESCE(jsonb_agg(
                       CASE WHEN e.tier ->> 'recovery_type' = 'plan_installment'
                            THEN jsonb_set(e.tier, '{recovery_type}', '"plan"')
                            ELSE e.tier END
                       ORDER BY e.ord), '[]'::jsonb)
            FROM jsonb_array_elements(ct.tiers) WITH ORDINALITY AS e(tier, ord)
            WHERE e.tier ->> 'recovery_type' IS DISTINCT FROM 'partial_payment'
        )
        WHERE ct.tiers @> '[{"recovery_type": "plan_installment"}]'
           OR ct.tiers @> '[{"recovery_type": "partial_payment"}]'
        """
    )
    op.execute(
        """
        UPDATE commission_terms SET tiers = jsonb_build_array(jsonb_build_object(
            'stage', NULL, 'recovery_type', NULL,
            'rate_pct', COALESCE(volume_tiers -> 0 ->> 'rate_pct', '0.00')))
        WHERE tiers = '[]'::jsonb
        """
    )
    op.drop_constraint(
        op.f("ck_commission_terms_accelerator_extra_rate_pct"), "commission_terms", type_="check"
    )
    op.drop_constraint(
        op.f("ck_commission_terms_accelerator_above_target_pct"),
        "commission_terms",
        type_="check",
    )
    op.drop_constraint(
        op.f("ck_commission_terms_accelerator_whole"), "commission_terms", type_="check"
    )
    op.drop_column("commission_terms", "accelerator_extra_rate_pct")
    op.drop_column("commission_terms", "accelerator_above_target_pct")
    op.drop_column("commission_terms", "volume_tiers")
