"""Refresh-token families of staff sessions

A staff login starts a family (its id is the ``sid`` of the family's access tokens); each
refresh token is kept only as the SHA-256 of its 256 random bits, with its generation.
Refresh tokens rotate on every use, and a spent one presented again revokes the family
(app/domain/refresh_tokens.py).

Downgrade drops both tables: every refresh token stops working and SPAs log in again.

The brief named this revision b8c9d0e1f2a3, but that id is already taken by
20261125_0005 (debtor flags); this one has its own.

Revision ID: f6539cbe0280
Revises: a9c3e5f7b1d2
Create Date: 2026-12-05 18:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "f6539cbe0280"
down_revision: str | None = "a9c3e5f7b1d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refresh_token_family",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credentials", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.CheckConstraint(
            "revoked_reason IN ('logout', 'reuse', 'password_changed', 'deactivated')",
            name=op.f("ck_refresh_token_family_revoked_reason"),
        ),
        sa.CheckConstraint(
            "(revoked_at IS NULL) = (revoked_reason IS NULL)",
            name=op.f("ck_refresh_token_family_revoked_why"),
        ),
        sa.CheckConstraint("generation >= 0", name=op.f("ck_refresh_token_family_generation")),
        sa.CheckConstraint(
            "expires_at > started_at", name=op.f("ck_refresh_token_family_lifetime")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_refresh_token_family_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_token_family")),
    )
    op.create_index(op.f("ix_refresh_token_family_user_id"), "refresh_token_family", ["user_id"])
    op.create_index(
        op.f("ix_refresh_token_family_expires_at"), "refresh_token_family", ["expires_at"]
    )
    op.create_table(
        "refresh_token",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["refresh_token_family.id"],
            name=op.f("fk_refresh_token_family_id_refresh_token_family"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_refresh_token")),
        sa.UniqueConstraint(
            "family_id", "generation", name=op.f("uq_refresh_token_family_generation")
        ),
    )


def downgrade() -> None:
    op.drop_table("refresh_token")
    op.drop_index(op.f("ix_refresh_token_family_expires_at"), table_name="refresh_token_family")
    op.drop_index(op.f("ix_refresh_token_family_user_id"), table_name="refresh_token_family")
    op.drop_table("refresh_token_family")
