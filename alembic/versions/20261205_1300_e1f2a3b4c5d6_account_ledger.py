"""the account ledger: entries in minor units, account credit, credit movements, and the
down payment as installment 0

Revision ID: e1f2a3b4c5d6
Revises: d0e1f2a3b4c5
Create Date: 2026-12-05 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "e1f2a3b4c5d6"
down_revision: str | None = "d0e1f2a3b4c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ISO 4217 exponents as they stood when the ledger began (app/domain/money.py holds the
# table the application uses); a currency not listed has two decimals.
_EXPONENTS = "(VALUES ('MXN', 2), ('COP', 2), ('PEN', 2), ('CLP', 0), ('BRL', 2), ('USD', 2))"


def upgrade() -> None:
    op.add_column(
        "account",
        sa.Column("credit", sa.Numeric(18, 2), server_default="0", nullable=False),
    )
    op.create_check_constraint(op.f("ck_account_credit_not_negative"), "account", "credit >= 0")
    op.drop_constraint(op.f("ck_plan_installment_amounts"), "plan_installment", type_="check")
    op.create_check_constraint(
        op.f("ck_plan_installment_amounts"),
        "plan_installment",
        "number >= 0 AND amount > 0 AND paid_amount >= 0",
    )
    op.create_table(
        "credit_movement",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_account_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("payout_reference", sa.String(length=100), nullable=True),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=1000), nullable=True),
        sa.CheckConstraint("kind IN ('refund', 'transfer')", name=op.f("ck_credit_movement_kind")),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'done', 'rejected')",
            name=op.f("ck_credit_movement_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_movement_amount_positive")),
        sa.CheckConstraint(
            "(kind = 'transfer') = (target_account_id IS NOT NULL)",
            name=op.f("ck_credit_movement_target_for_transfer"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_credit_movement_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_credit_movement_partner_id_partner")
        ),
        sa.ForeignKeyConstraint(
            ["target_account_id"],
            ["account.id"],
            name=op.f("fk_credit_movement_target_account_id_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_movement")),
    )
    op.create_index("ix_credit_movement_account", "credit_movement", ["account_id", "id"])
    op.create_table(
        "ledger_entry",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("component", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("plan_id", sa.Uuid(), nullable=True),
        sa.Column("assignment_id", sa.Uuid(), nullable=True),
        sa.Column("credit_movement_id", sa.Uuid(), nullable=True),
        sa.Column("reverses_seq", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "component IN ('principal', 'interest', 'fees', 'past_due', 'credit')",
            name=op.f("ck_ledger_entry_component"),
        ),
        sa.CheckConstraint(
            "kind IN ('opening', 'partner_adjustment', 'payment', 'plan_interest', 'forgiveness',"
            " 'reversal',"
            " 'credit_refund', 'credit_transfer_out', 'credit_transfer_in')",
            name=op.f("ck_ledger_entry_kind"),
        ),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_ledger_entry_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_ledger_entry_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_ledger_entry_payment_id_payment")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["payment_plan.id"], name=op.f("fk_ledger_entry_plan_id_payment_plan")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_seq"],
            ["ledger_entry.seq"],
            name=op.f("fk_ledger_entry_reverses_seq_ledger_entry"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_entry")),
    )
    op.create_index("ix_ledger_entry_account", "ledger_entry", ["account_id", "seq"])
    op.create_index(
        "ix_ledger_entry_payment",
        "ledger_entry",
        ["payment_id"],
        postgresql_where=sa.text("payment_id IS NOT NULL"),
    )
    # What existing accounts hold becomes their opening entries, and credit already received
    # (payments beyond the debt) their account credit, so every account verifies at once.
    op.execute(
        """
        UPDATE account a SET credit = c.credit
        FROM (SELECT account_id, sum(credit_amount) AS credit FROM payment
              WHERE status = 'applied' GROUP BY account_id) c
        WHERE c.account_id = a.id AND c.credit > 0
        """
    )
    op.execute(
        f"""
        INSERT INTO ledger_entry (account_id, partner_id, currency, component, kind,
                                  amount_minor, as_of, occurred_at, actor_id)
        SELECT a.id, a.partner_id, a.currency, v.component, 'opening',
               round(v.amount * power(10::numeric, coalesce(x.e, 2)))::bigint,
               a.aged_as_of, now(), 'migration:e1f2a3b4c5d6'
        FROM account a
        LEFT JOIN {_EXPONENTS} AS x(code, e) ON x.code = a.currency
        CROSS JOIN LATERAL (VALUES ('principal', a.principal), ('interest', a.interest),
                                   ('fees', a.fees), ('past_due', a.past_due_amount),
                                   ('credit', a.credit)) AS v(component, amount)
        WHERE v.amount <> 0
        ORDER BY a.id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entry_payment", table_name="ledger_entry")
    op.drop_index("ix_ledger_entry_account", table_name="ledger_entry")
    op.drop_table("ledger_entry")
    op.drop_index("ix_credit_movement_account", table_name="credit_movement")
    op.drop_table("credit_movement")
    op.execute("DELETE FROM plan_installment WHERE number = 0")
    op.drop_constraint(op.f("ck_plan_installment_amounts"), "plan_installment", type_="check")
    op.create_check_constraint(
        op.f("ck_plan_installment_amounts"),
        "plan_installment",
        "number >= 1 AND amount > 0 AND paid_amount >= 0",
    )
    op.drop_constraint(op.f("ck_account_credit_not_negative"), "account", type_="check")
    op.drop_column("account", "credit")
