"""API shapes of the debtor profile, reveals, the access log and the export."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import NoteText

RevealableField = Literal["national_id", "birth_date", "contact_points", "related_parties"]


class DebtorAccountRead(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    external_ref: str
    product_type: str
    stage: str
    status: str
    dpd: int
    total: Decimal
    currency: str
    first_names: str = Field(description="The debtor's names as this account's partner sent them.")
    last_names: str
    birth_date_masked: str | None = Field(description="Only the year shows: `1980-**-**`.")
    age_notices: list[AgeNoticeRead] = Field(
        default_factory=list,
        description="What the debtor's age (as this account's partner sent it) means for "
        "contact under the partner's country's law: a minor, an older adult.",
    )


class AgeNoticeRead(BaseModel):
    flag: Literal["minor", "older_adult"]
    basis: Literal["law", "policy"] = Field(
        description="`law`: the law blocks contact (see `citation`); `policy`: only a "
        "strategy's choice would."
    )
    effect: str
    citation: str | None


class ContactPointRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    related_party_id: uuid.UUID | None = Field(
        description="Null for the debtor's own; else the reference or guarantor it belongs to."
    )
    kind: Literal["phone", "email", "address"]
    value_masked: str = Field(description="`****5678`, `j***@mail.com`: reveal to see it.")
    source: str = Field(description="partner, debtor, skip_trace or field_visit.")
    verification_status: Literal["unverified", "verified", "invalid"]
    verified_at: datetime | None
    time_zone: str | None
    state: str | None
    municipality: str | None
    postal_code: str | None
    consent: dict[str, Literal["granted", "opted_out"]] = Field(
        description="The debtor's recorded consent or opt-out per channel this point serves, "
        "given to this account's partner; a channel left out has no record."
    )
    attempts: int
    right_party_contacts: int
    contactability: Decimal | None = Field(
        description="Right-party contacts over attempts; null before the first attempt."
    )
    best_hour: int | None = Field(
        description="The local hour with the most right-party contacts (0 to 23)."
    )


class RelatedPartyRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    kind: Literal["reference", "guarantor"]
    full_name: str
    relationship: str | None
    national_id_type: str | None
    national_id_masked: str | None
    source: str


FlagKind = Literal[
    "cease_contact",
    "dispute",
    "deceased",
    "attorney",
    "minor",
    "older_adult",
    "insolvency",
    "vulnerable",
]


class FlagRead(BaseModel):
    """A flag on the debtor. A partner system sees only the flags raised through its own
    accounts; staff, those that reach an account they may see."""

    id: uuid.UUID
    kind: FlagKind
    account_id: uuid.UUID | None = Field(
        description="The account it was raised through; null when that account is not one the "
        "caller may see, or for a flag older than that record."
    )
    reach: Literal["account", "creditor", "agency"] = Field(
        description="The debtor's accounts it applies to: the one it was raised through "
        "(dispute), every account of that creditor (cease_contact), or every account of the "
        "debtor (deceased, attorney, insolvency, minor, older_adult, vulnerable; and a flag "
        "whose account is not known)."
    )
    set_at: datetime


class ConsentRead(BaseModel):
    partner_id: uuid.UUID
    channel: str
    status: Literal["granted", "opted_out"]
    recorded_at: datetime


class FlagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: FlagKind = Field(
        description="insolvency stops every contact (the claim goes through the proceeding); "
        "vulnerable is shown and does not stop contact; the others as the contact law says."
    )
    account_id: uuid.UUID = Field(
        description="The account of the debtor, one the caller may see, the flag is raised "
        "through (another is a 404); its kind says which accounts it reaches."
    )
    reason: NoteText = Field(min_length=3, max_length=500)


class FlagClear(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: NoteText = Field(min_length=3, max_length=500)


class DebtorProfileRead(BaseModel):
    """What the caller may see of the person, masked: only what came with the accounts they
    may see (a partner, what it sent; a collector, what came with their accounts)."""

    id: uuid.UUID
    national_id_type: str
    national_id_masked: str
    accounts: list[DebtorAccountRead]
    contact_points: list[ContactPointRead]
    related_parties: list[RelatedPartyRead]
    flags: list[FlagRead]
    consents: list[ConsentRead]


class RevealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[RevealableField] = Field(min_length=1, max_length=4)
    reason: NoteText = Field(
        min_length=10,
        max_length=500,
        description="Why the values are needed (recorded in the access log).",
    )


class RevealedBirthDate(BaseModel):
    account_id: uuid.UUID
    birth_date: date | None


class RevealedContactPoint(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    related_party_id: uuid.UUID | None
    kind: str
    value: str


class RevealedParty(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    full_name: str
    national_id_type: str | None
    national_id: str | None


class RevealRead(BaseModel):
    """The asked fields unmasked; the others null."""

    access_id: uuid.UUID
    national_id: str | None
    birth_dates: list[RevealedBirthDate] | None
    contact_points: list[RevealedContactPoint] | None
    related_parties: list[RevealedParty] | None


class AccessRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: Literal["reveal", "export"]
    fields: list[str]
    reason: str
    actor_id: str
    actor_role: str
    request_id: str | None
    occurred_at: datetime
