"""skip tracing: contact point verification and sources

Contact points get a verification status (unverified, verified, invalid) with the time of
their last verification, kept in step with ``is_valid`` by a check; contact points and
related parties get the finder's note.

Revision ID: c3d4e5f6a7b8
Revises: b2c3d4e5f6a7
Create Date: 2026-11-24 23:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "c3d4e5f6a7b8"
down_revision: str | None = "b2c3d4e5f6a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "contact_point",
        sa.Column(
            "verification_status",
            sqlmodel.sql.sqltypes.AutoString(length=12),
            server_default="unverified",
            nullable=False,
        ),
    )
    op.add_column(
        "contact_point", sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "contact_point",
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    )
    op.add_column(
        "related_party",
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    )
    # Points retired by wrong-number results before the status existed.
    op.execute("UPDATE contact_point SET verification_status = 'invalid' WHERE NOT is_valid")
    op.create_check_constraint(
        op.f("ck_contact_point_verification_status"),
        "contact_point",
        "verification_status IN ('unverified', 'verified', 'invalid')",
    )
    op.create_check_constraint(
        op.f("ck_contact_point_valid_matches_status"),
        "contact_point",
        "is_valid = (verification_status <> 'invalid')",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_contact_point_valid_matches_status"), "contact_point", type_="check"
    )
    op.drop_constraint(op.f("ck_contact_point_verification_status"), "contact_point", type_="check")
    op.drop_column("related_party", "note")
    op.drop_column("contact_point", "note")
    op.drop_column("contact_point", "verified_at")
    op.drop_column("contact_point", "verification_status")
