"""debtor_flag keeps the account and partner it was raised through

Until now ``account_id`` on a flag meant "this debt only" (disputes) and null meant "every
account": a flag raised through one partner's account showed on every other partner's
profile of the same person. From here ``account_id`` (and the new ``partner_id``) say where
the flag came from, and its kind says how far it reaches (app/domain/flags.py).

Backfill, for each flag without an account, in this order:

1. the account of the interaction whose result raised it (``source_interaction_id``);
2. the debtor's only account that existed when it was set.

What is left (a flag set by hand on a debtor with several accounts) stays without an account:
of unknown origin, it keeps reaching every account and only staff see it. Flags with an
account get its partner.

Downgrade: flags of every kind but ``dispute`` go back to "every account" (null), which is
what they meant before (stricter for cease-contact than its new per-creditor reach).

Revision ID: c5d6e7f8a9b0
Revises: b4c5d6e7f8a9
Create Date: 2026-12-05 14:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "c5d6e7f8a9b0"
down_revision: str | None = "b4c5d6e7f8a9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("debtor_flag", sa.Column("partner_id", sa.Uuid(), nullable=True))
    op.execute(
        """
        UPDATE debtor_flag f SET account_id = i.account_id
        FROM interaction i
        WHERE f.account_id IS NULL AND i.id = f.source_interaction_id
        """
    )
    op.execute(
        """
        UPDATE debtor_flag f SET account_id = sole.id
        FROM (
          SELECT f2.id AS flag_id, min(a.id::text)::uuid AS id
          FROM debtor_flag f2
          JOIN account a ON a.debtor_id = f2.debtor_id AND a.created_at <= f2.set_at
          WHERE f2.account_id IS NULL
          GROUP BY f2.id
          HAVING count(*) = 1
        ) sole
        WHERE f.id = sole.flag_id
        """
    )
    op.execute(
        """
        UPDATE debtor_flag f SET partner_id = a.partner_id
        FROM account a
        WHERE a.id = f.account_id
        """
    )
    op.create_check_constraint(
        "account_partner", "debtor_flag", "(account_id IS NULL) = (partner_id IS NULL)"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_debtor_flag_account_partner"), "debtor_flag", type_="check")
    op.execute("UPDATE debtor_flag SET account_id = NULL WHERE kind <> 'dispute'")
    op.drop_column("debtor_flag", "partner_id")
