"""The debtor's self-service portal: portal links, the ``portal`` interaction channel and
consent source, and plans the debtor accepted there (no staff proposer, the link instead).

Downgrade drops the links; it fails while portal interactions, consents or plans exist
(their rows would break the restored constraints), which is the point.

Revision ID: 51cec2fc22f2
Revises: 5beea920cc44
Create Date: 2026-12-05 19:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "51cec2fc22f2"
down_revision: str | None = "5beea920cc44"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANNELS = "'call', 'sms', 'email', 'whatsapp', 'letter', 'visit'"
_SOURCES = "'partner_file', 'debtor_in_interaction', 'signed_document', 'debtor_request'"
_EVIDENCE = (
    "status = 'opted_out' OR source = 'unrecorded' "
    "OR (source = 'partner_file' AND partner_reference IS NOT NULL) "
    "OR (source = 'debtor_in_interaction' AND evidence_interaction_id IS NOT NULL) "
    "OR (source = 'signed_document' AND evidence_document_id IS NOT NULL)"
)
_PORTAL_EVIDENCE = " OR (source = 'portal' AND evidence_interaction_id IS NOT NULL)"


def _replace_check(table: str, name: str, condition: str) -> None:
    op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
    op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, condition)


def upgrade() -> None:
    op.create_table(
        "portal_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("token_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("issued_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("failed_attempts >= 0", name=op.f("ck_portal_link_failed_attempts")),
        sa.CheckConstraint("expires_at > issued_at", name=op.f("ck_portal_link_lifetime")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_portal_link_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_link")),
    )
    op.create_index("ix_portal_link_account", "portal_link", ["account_id", "issued_at"])
    _replace_check("interaction", "channel", f"channel IN ({_CHANNELS}, 'portal')")
    _replace_check("contact_consent", "source", f"source IN ({_SOURCES}, 'portal', 'unrecorded')")
    _replace_check("contact_consent", "evidence", _EVIDENCE + _PORTAL_EVIDENCE)
    op.alter_column("payment_plan", "proposed_by", nullable=True)
    op.add_column("payment_plan", sa.Column("portal_link_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_payment_plan_portal_link_id_portal_link"),
        "payment_plan",
        "portal_link",
        ["portal_link_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_payment_plan_proposer"),
        "payment_plan",
        "(proposed_by IS NULL) <> (portal_link_id IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_payment_plan_proposer"), "payment_plan", type_="check")
    op.drop_constraint(
        op.f("fk_payment_plan_portal_link_id_portal_link"), "payment_plan", type_="foreignkey"
    )
    op.drop_column("payment_plan", "portal_link_id")
    op.alter_column("payment_plan", "proposed_by", nullable=False)
    _replace_check("contact_consent", "evidence", _EVIDENCE)
    _replace_check("contact_consent", "source", f"source IN ({_SOURCES}, 'unrecorded')")
    _replace_check("interaction", "channel", f"channel IN ({_CHANNELS})")
    op.drop_index("ix_portal_link_account", table_name="portal_link")
    op.drop_table("portal_link")
