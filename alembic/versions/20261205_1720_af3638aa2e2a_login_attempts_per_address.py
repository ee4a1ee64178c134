"""Login attempts are kept per client address

Until now failures were counted per name alone, so anyone could lock out any user or
partner system with five wrong passwords. From here each attempt carries the client's
address key (an IPv4 address, an IPv6 /64, or ``unknown``) and the lockout counts failures
per name and address, and per address across names.

Rows written before this revision get ``unknown``: they are at most one lock period old when
they matter at all, and no real client's address is ``unknown``. The per-name index gives
way to one per name and address, and a partial index serves the count of an address's
failures. Downgrade drops the column and restores the per-name index.

Revision ID: af3638aa2e2a
Revises: 0d5ea1edb10b
Create Date: 2026-12-05 17:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "af3638aa2e2a"
down_revision: str | None = "0d5ea1edb10b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "login_attempt",
        sa.Column(
            "address",
            sqlmodel.sql.sqltypes.AutoString(length=64),
            nullable=False,
            server_default="unknown",
        ),
    )
    op.alter_column("login_attempt", "address", server_default=None)
    op.drop_index("ix_login_attempt_username_at", table_name="login_attempt")
    op.create_index(
        "ix_login_attempt_username_address_at",
        "login_attempt",
        ["username", "address", "attempted_at"],
        unique=False,
    )
    op.create_index(
        "ix_login_attempt_address_failed_at",
        "login_attempt",
        ["address", "attempted_at"],
        unique=False,
        postgresql_where=sa.text("NOT succeeded"),
    )


def downgrade() -> None:
    op.drop_index("ix_login_attempt_address_failed_at", table_name="login_attempt")
    op.drop_index("ix_login_attempt_username_address_at", table_name="login_attempt")
    op.create_index(
        "ix_login_attempt_username_at", "login_attempt", ["username", "attempted_at"], unique=False
    )
    op.drop_column("login_attempt", "address")
