"""Debtors (one person across the agency), the people they named, and their contact points.

A debtor is matched by national id across partners. What a partner sent about a debtor's
phones, addresses, references and guarantors is kept per account (with its ``partner_id``),
so a partner only ever sees what came with its own accounts.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, LargeBinary, Numeric, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from app import vault
from app.domain.consents import ConsentStatus
from app.domain.contactability import VerificationStatus
from app.domain.crypto import Vault
from app.domain.identity import CONTACT, NATIONAL_ID, contact_blind_index, mask, mask_contact
from app.ids import new_id
from app.models.base import EnumText, Sealed, optional_timestamp_field, timestamp_field


def national_id_index(value: str) -> bytes:
    """The blind index of a (normalised) national id, of any type."""
    return vault.current().index(value, NATIONAL_ID)


def contact_index(kind: str, value: str, sealer: Vault | None = None) -> bytes:
    """The blind index of a contact value (E.164 phone, lower-case email, an address line
    without case or accents)."""
    return contact_blind_index(sealer or vault.current(), kind, value)


class Debtor(SQLModel, table=True):
    __tablename__ = "debtor"
    __table_args__ = (
        UniqueConstraint("national_id_type", "national_id_index", name="uq_debtor_national_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    national_id_type: str = Field(max_length=8)
    # Sealed at rest; found by its blind index; shown masked.
    national_id: str = Field(sa_column=Column(Sealed(NATIONAL_ID), nullable=False))
    national_id_index: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    national_id_masked: str = Field(default="", max_length=48)
    first_names: str = Field(max_length=120)
    last_names: str = Field(max_length=120)
    birth_date: date | None = None
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


# partner_id and debtor_id on the tables below are copies of their account's (the partner
# column is the distribution key for Citus); the account's foreign keys already guard them,
# and checking them again per row would double the cost of a bulk push.


class RelatedParty(SQLModel, table=True):
    """A reference (referencia: located through, never told of the debt) or a guarantor
    (aval, deudor solidario: may be collected from), as named with one account."""

    __tablename__ = "related_party"
    __table_args__ = (CheckConstraint("kind IN ('reference', 'guarantor')", name="kind"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    full_name: str = Field(max_length=200)
    relationship: str | None = Field(default=None, max_length=60)
    national_id_type: str | None = Field(default=None, max_length=8)
    national_id: str | None = Field(default=None, sa_column=Column(Sealed(NATIONAL_ID)))
    national_id_index: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    national_id_masked: str | None = Field(default=None, max_length=48)
    position: int = 0
    # Who supplied it: the partner's pushes replace only their own ('partner') entries.
    source: str = Field(default="partner", max_length=16)
    # What the collector who found it noted (where, how); never the debt.
    note: str | None = Field(default=None, max_length=500)


class ContactPoint(SQLModel, table=True):
    """A phone, email or address of the debtor (``related_party_id`` null) or of a related
    party, as sent with one account."""

    __tablename__ = "contact_point"
    __table_args__ = (
        CheckConstraint("kind IN ('phone', 'email', 'address')", name="kind"),
        CheckConstraint(
            "verification_status IN ('unverified', 'verified', 'invalid')",
            name="verification_status",
        ),
        # is_valid is the older view of the status; the database keeps the two in step.
        CheckConstraint(
            "is_valid = (verification_status <> 'invalid')", name="valid_matches_status"
        ),
        Index("ix_contact_point_debtor_kind", "debtor_id", "kind"),
        Index("ix_contact_point_value_index", "value_index"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID
    account_id: uuid.UUID = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    debtor_id: uuid.UUID
    related_party_id: uuid.UUID | None = Field(
        default=None, foreign_key="related_party.id", ondelete="CASCADE"
    )
    kind: str = Field(max_length=8)
    # E.164 phone, lower-case email, or the address's street line: sealed at rest, found by
    # its blind index, shown masked.
    value: str = Field(sa_column=Column(Sealed(CONTACT), nullable=False))
    value_index: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    value_masked: str = Field(default="", max_length=80)
    state: str | None = Field(default=None, max_length=60)
    municipality: str | None = Field(default=None, max_length=120)
    postal_code: str | None = Field(default=None, max_length=10)
    latitude: Decimal | None = Field(default=None, sa_type=Numeric(9, 6))
    longitude: Decimal | None = Field(default=None, sa_type=Numeric(9, 6))
    # IANA zone the contact rules are evaluated in (from the state, or the phone's area).
    time_zone: str | None = Field(default=None, max_length=64)
    position: int = 0
    # Who supplied it: the partner's pushes replace only their own ('partner') entries.
    source: str = Field(default="partner", max_length=16)
    # WRONG_NUMBER / DISCONNECTED results counted; at the configured count it is invalid.
    failed_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    is_valid: bool = Field(default=True, sa_column_kwargs={"server_default": "true"})
    # unverified until a contact proves whose it is (verified), invalid after the wrong-number
    # results above (app/domain/contactability.py).
    verification_status: VerificationStatus = Field(
        default=VerificationStatus.UNVERIFIED,
        sa_type=EnumText(VerificationStatus, 12),
        sa_column_kwargs={"server_default": "unverified"},
    )
    verified_at: datetime | None = optional_timestamp_field()
    note: str | None = Field(default=None, max_length=500)


class DebtorFlag(SQLModel, table=True):
    """A fact about the debtor that limits contact: cease-contact request, dispute, death,
    represented by an attorney, insolvency, minor, older adult, vulnerable.

    Raised through one account, kept with it and its partner: what it reaches (that debt,
    that creditor's accounts, every account) follows from its kind, and a partner knows only
    the flags its own accounts brought (app/domain/flags.py). ``account_id`` and
    ``partner_id`` are null only on flags recorded before they were kept and whose account
    could not be told (migration c5d6e7f8a9b0): those reach every account and only staff
    see them. Rows are made by ``app.services.flags.new_flag``."""

    __tablename__ = "debtor_flag"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('cease_contact', 'dispute', 'deceased', 'attorney', 'minor', "
            "'older_adult', 'insolvency', 'vulnerable')",
            name="kind",
        ),
        CheckConstraint("(account_id IS NULL) = (partner_id IS NULL)", name="account_partner"),
        Index("ix_debtor_flag_debtor", "debtor_id", "kind"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    debtor_id: uuid.UUID = Field(foreign_key="debtor.id")
    # The account the flag was raised through, and its partner (a copy, as on the tables
    # above).
    account_id: uuid.UUID | None = Field(default=None, foreign_key="account.id")
    partner_id: uuid.UUID | None = Field(default=None)
    kind: str = Field(max_length=16)
    source_interaction_id: uuid.UUID | None = None
    set_by: str = Field(max_length=80)
    set_at: datetime = timestamp_field()
    cleared_at: datetime | None = optional_timestamp_field()


class ContactConsent(SQLModel, table=True):
    """A channel the debtor authorised or opted out of, with its provenance (Colombia contacts
    only authorised channels, Ley 2300 de 2023 art. 2; everywhere an opt-out stops the
    channel). One row per debtor, creditor and channel holds the current word; every change
    is also in the audit trail with its evidence.

    ``source`` says where the word came from and which evidence column names it:
    ``partner_file`` (the creditor's own record, ``partner_reference``),
    ``debtor_in_interaction`` (a right-party contact, ``evidence_interaction_id``),
    ``signed_document`` (an account document, ``evidence_document_id``), ``debtor_request``
    (a revocation, which needs no evidence beyond who recorded it), ``portal`` (the debtor
    in the self-service portal; the portal interaction is ``evidence_interaction_id``) and
    ``unrecorded`` (rows
    from before provenance was kept)."""

    __tablename__ = "contact_consent"
    __table_args__ = (
        CheckConstraint(
            "channel IN ('call', 'sms', 'email', 'whatsapp', 'letter', 'visit')", name="channel"
        ),
        CheckConstraint("status IN ('granted', 'opted_out')", name="status"),
        CheckConstraint(
            "source IN ('partner_file', 'debtor_in_interaction', 'signed_document', "
            "'debtor_request', 'portal', 'unrecorded')",
            name="source",
        ),
        # A consent names its evidence; a revocation needs none.
        CheckConstraint(
            "status = 'opted_out' OR source = 'unrecorded' "
            "OR (source = 'partner_file' AND partner_reference IS NOT NULL) "
            "OR (source = 'debtor_in_interaction' AND evidence_interaction_id IS NOT NULL) "
            "OR (source = 'signed_document' AND evidence_document_id IS NOT NULL) "
            "OR (source = 'portal' AND evidence_interaction_id IS NOT NULL)",
            name="evidence",
        ),
        CheckConstraint("source <> 'debtor_request' OR status = 'opted_out'", name="request"),
    )

    debtor_id: uuid.UUID = Field(foreign_key="debtor.id", primary_key=True)
    # Consent is given to a creditor (Ley 2300 names the entity), not to every partner.
    partner_id: uuid.UUID = Field(foreign_key="partner.id", primary_key=True)
    channel: str = Field(max_length=16, primary_key=True)
    status: ConsentStatus = Field(sa_type=EnumText(ConsentStatus, 16))
    source: str = Field(max_length=24)
    evidence_interaction_id: uuid.UUID | None = Field(default=None, foreign_key="interaction.id")
    evidence_document_id: uuid.UUID | None = Field(default=None, foreign_key="account_document.id")
    partner_reference: str | None = Field(default=None, max_length=120)
    # When the debtor gave or withdrew it (the interaction's start, the partner's date);
    # ``recorded_at`` is when it reached us.
    given_at: datetime = timestamp_field()
    recorded_by: str = Field(max_length=80)
    recorded_at: datetime = timestamp_field()


# Whoever writes these rows through the ORM sets the plaintext; the index and masked form
# follow from it here (bulk intake computes them itself).


@event.listens_for(Debtor, "before_insert")
@event.listens_for(Debtor, "before_update")
def _debtor_derived(mapper: Any, connection: Any, target: Debtor) -> None:
    target.national_id_index = national_id_index(target.national_id)
    target.national_id_masked = mask(target.national_id)


@event.listens_for(RelatedParty, "before_insert")
@event.listens_for(RelatedParty, "before_update")
def _party_derived(mapper: Any, connection: Any, target: RelatedParty) -> None:
    if target.national_id is None:
        target.national_id_index = target.national_id_masked = None
    else:
        target.national_id_index = national_id_index(target.national_id)
        target.national_id_masked = mask(target.national_id)


@event.listens_for(ContactPoint, "before_insert")
@event.listens_for(ContactPoint, "before_update")
def _contact_derived(mapper: Any, connection: Any, target: ContactPoint) -> None:
    target.value_index = contact_index(target.kind, target.value)
    target.value_masked = mask_contact(target.kind, target.value)
