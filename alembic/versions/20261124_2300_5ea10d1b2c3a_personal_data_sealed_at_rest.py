"""personal data sealed at rest: national ids and contact values as AES-GCM ciphertext with
blind indexes and masked forms

Revision ID: 5ea10d1b2c3a
Revises: d0c5a1e2b7f3
Create Date: 2026-11-24 23:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "5ea10d1b2c3a"
down_revision: str | None = "d0c5a1e2b7f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _seal_existing(table: str, column: str, purpose: str, kind_column: str | None) -> None:
    """Seal the plaintext already stored, a batch at a time (a new database has none)."""
    from app import vault
    from app.domain.identity import mask, mask_contact

    sealer = vault.current()
    bind = op.get_bind()
    kind_select = f", {kind_column}" if kind_column else ""
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT id, {column}{kind_select} FROM {table} "
                f"WHERE {column} IS NOT NULL AND {column}_sealed IS NULL LIMIT {BATCH}"
            )
        ).all()
        if not rows:
            return
        updates = []
        for row in rows:
            value = row[1]
            if kind_column:
                index = sealer.index(f"{row[2]}:{value}", purpose)
                masked = mask_contact(row[2], value)
            else:
                index = sealer.index(value, purpose)
                masked = mask(value)
            updates.append(
                {"id": row[0], "sealed": sealer.seal(value, purpose), "idx": index, "m": masked}
            )
        bind.execute(
            sa.text(
                f"UPDATE {table} SET {column}_sealed = :sealed, {column}_index = :idx, "
                f"{column}_masked = :m WHERE id = :id"
            ),
            updates,
        )


def upgrade() -> None:
    for table, length in (("debtor", 48), ("related_party", 48)):
        op.add_column(table, sa.Column("national_id_sealed", sa.LargeBinary(), nullable=True))
        op.add_column(table, sa.Column("national_id_index", sa.LargeBinary(), nullable=True))
        op.add_column(
            table, sa.Column("national_id_masked", sa.String(length=length), nullable=True)
        )
    op.add_column("contact_point", sa.Column("value_sealed", sa.LargeBinary(), nullable=True))
    op.add_column("contact_point", sa.Column("value_index", sa.LargeBinary(), nullable=True))
    op.add_column("contact_point", sa.Column("value_masked", sa.String(length=80), nullable=True))

    _seal_existing("debtor", "national_id", "national_id", None)
    _seal_existing("related_party", "national_id", "national_id", None)
    _seal_existing("contact_point", "value", "contact", "kind")

    op.drop_constraint("uq_debtor_national_id", "debtor", type_="unique")
    for table, column in (
        ("debtor", "national_id"),
        ("related_party", "national_id"),
        ("contact_point", "value"),
    ):
        op.drop_column(table, column)
        op.alter_column(table, f"{column}_sealed", new_column_name=column)
    for column in ("national_id", "national_id_index", "national_id_masked"):
        op.alter_column("debtor", column, nullable=False)
    for column in ("value", "value_index", "value_masked"):
        op.alter_column("contact_point", column, nullable=False)
    op.create_unique_constraint(
        "uq_debtor_national_id", "debtor", ["national_id_type", "national_id_index"]
    )
    op.create_index("ix_contact_point_value_index", "contact_point", ["value_index"])


def _open_existing(table: str, column: str, purpose: str) -> None:
    from app import vault

    sealer = vault.current()
    bind = op.get_bind()
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT id, {column} FROM {table} "
                f"WHERE {column} IS NOT NULL AND {column}_plain IS NULL LIMIT {BATCH}"
            )
        ).all()
        if not rows:
            return
        bind.execute(
            sa.text(f"UPDATE {table} SET {column}_plain = :v WHERE id = :id"),
            [{"id": r[0], "v": sealer.open(bytes(r[1]), purpose)} for r in rows],
        )


def downgrade() -> None:
    """Back to plaintext columns (opened with the configured keys)."""
    op.drop_index("ix_contact_point_value_index", table_name="contact_point")
    op.drop_constraint("uq_debtor_national_id", "debtor", type_="unique")
    for table, column, length, purpose in (
        ("debtor", "national_id", 40, "national_id"),
        ("related_party", "national_id", 40, "national_id"),
        ("contact_point", "value", 300, "contact"),
    ):
        op.add_column(table, sa.Column(f"{column}_plain", sa.String(length), nullable=True))
        _open_existing(table, column, purpose)
        op.drop_column(table, column)
        op.drop_column(table, f"{column}_index")
        op.drop_column(table, f"{column}_masked")
        op.alter_column(table, f"{column}_plain", new_column_name=column)
    op.alter_column("debtor", "national_id", nullable=False)
    op.alter_column("contact_point", "value", nullable=False)
    op.create_unique_constraint(
        "uq_debtor_national_id", "debtor", ["national_id_type", "national_id"]
    )
