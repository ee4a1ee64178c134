"""consent provenance, back-dated interactions and compliance incidents

Consents keep their source and evidence (the partner's reference, the interaction or the
document) and when the debtor gave them; rows from before are marked ``unrecorded`` (or
``debtor_in_interaction`` where an interaction set them). An interaction entered after the
fact keeps the lead's reason. A recorded contact that broke the law opens an incident.

Revision ID: b4c5d6e7f8a9
Revises: f2a3b4c5d6e7
Create Date: 2026-12-05 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "b4c5d6e7f8a9"
down_revision: str | None = "f2a3b4c5d6e7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVIDENCE = (
    "status = 'opted_out' OR source = 'unrecorded' "
    "OR (source = 'partner_file' AND partner_reference IS NOT NULL) "
    "OR (source = 'debtor_in_interaction' AND evidence_interaction_id IS NOT NULL) "
    "OR (source = 'signed_document' AND evidence_document_id IS NOT NULL)"
)


def upgrade() -> None:
    op.alter_column(
        "contact_consent", "source_interaction_id", new_column_name="evidence_interaction_id"
    )
    op.add_column(
        "contact_consent",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    )
    op.add_column("contact_consent", sa.Column("evidence_document_id", sa.Uuid(), nullable=True))
    op.add_column(
        "contact_consent",
        sa.Column("partner_reference", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    )
    op.add_column(
        "contact_consent", sa.Column("given_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE contact_consent SET given_at = recorded_at, source = CASE "
        "WHEN evidence_interaction_id IS NOT NULL THEN 'debtor_in_interaction' "
        "WHEN status = 'opted_out' THEN 'debtor_request' ELSE 'unrecorded' END"
    )
    op.alter_column("contact_consent", "source", nullable=False)
    op.alter_column("contact_consent", "given_at", nullable=False)
    op.create_foreign_key(
        op.f("fk_contact_consent_evidence_interaction_id_interaction"),
        "contact_consent",
        "interaction",
        ["evidence_interaction_id"],
        ["id"],
    )
    op.create_foreign_key(
        op.f("fk_contact_consent_evidence_document_id_account_document"),
        "contact_consent",
        "account_document",
        ["evidence_document_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_contact_consent_source"),
        "contact_consent",
        "source IN ('partner_file', 'debtor_in_interaction', 'signed_document', "
        "'debtor_request', 'unrecorded')",
    )
    op.create_check_constraint(op.f("ck_contact_consent_evidence"), "contact_consent", EVIDENCE)
    op.create_check_constraint(
        op.f("ck_contact_consent_request"),
        "contact_consent",
        "source <> 'debtor_request' OR status = 'opted_out'",
    )
    op.add_column(
        "interaction",
        sa.Column("backdated_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    )
    op.create_table(
        "compliance_incident",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("collector_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("pack_version", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution_note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("resolved_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'resolved')", name=op.f("ck_compliance_incident_status")
        ),
        sa.CheckConstraint(
            "status = 'open' OR (resolution_note IS NOT NULL AND resolved_by IS NOT NULL "
            "AND resolved_at IS NOT NULL)",
            name=op.f("ck_compliance_incident_resolution"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_compliance_incident_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interaction.id"],
            name=op.f("fk_compliance_incident_interaction_id_interaction"),
        ),
        sa.ForeignKeyConstraint(
            ["collector_id"],
            ["app_user.id"],
            name=op.f("fk_compliance_incident_collector_id_app_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_incident")),
        sa.UniqueConstraint("interaction_id", name=op.f("uq_compliance_incident_interaction_id")),
    )
    op.create_index(
        op.f("ix_compliance_incident_account_id"), "compliance_incident", ["account_id"]
    )
    op.create_index(
        "ix_compliance_incident_status_opened",
        "compliance_incident",
        ["status", "opened_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_compliance_incident_status_opened", table_name="compliance_incident")
    op.drop_index(op.f("ix_compliance_incident_account_id"), table_name="compliance_incident")
    op.drop_table("compliance_incident")
    op.drop_column("interaction", "backdated_reason")
    op.drop_constraint(op.f("ck_contact_consent_request"), "contact_consent", type_="check")
    op.drop_constraint(op.f("ck_contact_consent_evidence"), "contact_consent", type_="check")
    op.drop_constraint(op.f("ck_contact_consent_source"), "contact_consent", type_="check")
    op.drop_constraint(
        op.f("fk_contact_consent_evidence_document_id_account_document"),
        "contact_consent",
        type_="foreignkey",
    )
    op.drop_constraint(
        op.f("fk_contact_consent_evidence_interaction_id_interaction"),
        "contact_consent",
        type_="foreignkey",
    )
    op.drop_column("contact_consent", "given_at")
    op.drop_column("contact_consent", "partner_reference")
    op.drop_column("contact_consent", "evidence_document_id")
    op.drop_column("contact_consent", "source")
    op.alter_column(
        "contact_consent", "evidence_interaction_id", new_column_name="source_interaction_id"
    )
