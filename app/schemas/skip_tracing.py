"""API shapes of skip tracing: contact points and references a collector found."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from app.domain.assignments import has_control_characters
from app.domain.contactability import name_key
from app.domain.errors import InvalidValue
from app.i18n import N_
from app.schemas.common import NOT_BLANK, PlainText

StaffSource = Literal["skip_trace", "debtor", "field_visit"]
MIN_NAME_LETTERS = 2


def _one_line(value: str) -> str:
    """Surrounding blanks dropped, runs of blanks made one space; no control characters and
    no invisible ones (zero-width, bidirectional overrides, BOM), the same rule as intake."""
    if has_control_characters(value):
        raise InvalidValue(
            N_("must be a single line of text without control or invisible characters")
        )
    collapsed = " ".join(value.split())
    if not collapsed:
        raise InvalidValue(N_("must not be blank"))
    return collapsed


def _email(value: str) -> str:
    """A plain address (what pydantic's EmailStr checks, without its ``Name <address>``
    form): no quoted local part, no spaces, brackets or quotes; kept lower-case."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue(N_("not an email address")) from exc
    return checked.normalized.lower()


def _a_name(value: str) -> str:
    """A person's name has letters: at least two once accents and marks are removed."""
    if sum(c.isalpha() for c in name_key(value)) < MIN_NAME_LETTERS:
        raise InvalidValue(
            N_("a name needs at least {letters} letters"), {"letters": MIN_NAME_LETTERS}
        )
    return value


Line = Annotated[PlainText, AfterValidator(_one_line), NOT_BLANK]


class ContactPointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID = Field(
        description="The debtor's account the point is kept with (and seen through)."
    )
    kind: Literal["phone", "email", "address"]
    value: Line = Field(
        max_length=300,
        description="A phone in any usual notation (kept in E.164 for the account's "
        "country), an email (kept lower-case) or an address's street line.",
    )
    state: Line | None = Field(default=None, max_length=60, description="Addresses only.")
    municipality: Line | None = Field(default=None, max_length=120, description="Addresses only.")
    postal_code: Line | None = Field(default=None, max_length=10, description="Addresses only.")
    source: StaffSource = Field(
        default="skip_trace",
        description="skip_trace: found by searching; debtor: the debtor gave it; "
        "field_visit: found on a home visit.",
    )
    note: Line | None = Field(default=None, max_length=500)

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind == "email":
            return _email(value)
        if kind == "phone" and len(value) > 40:
            raise InvalidValue(N_("not a phone number: too long"))
        return value

    @field_validator("state", "municipality", "postal_code")
    @classmethod
    def _address_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind") != "address":
            raise InvalidValue(N_("belongs to an address"))
        return value


class ContactPointRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    related_party_id: uuid.UUID | None
    kind: str
    value_masked: str = Field(description="The value, masked; revealed only through /reveal.")
    source: str
    verification_status: Literal["unverified", "verified", "invalid"]
    verified_at: datetime | None = Field(description="The last contact that verified it.")
    time_zone: str | None
    state: str | None
    municipality: str | None
    postal_code: str | None
    attempts: int = Field(description="Outbound contact attempts recorded on it.")
    right_party_contacts: int
    contactability: Decimal | None = Field(
        description="Right-party contacts over attempts (two places); null before any attempt."
    )
    best_hour: int | None = Field(
        description="The local hour (0-23) with the most right-party contacts; ties give "
        "the earliest; null without any."
    )
    merged: bool = Field(
        default=False,
        description="True when the value was already kept for this owner and account: the "
        "existing point is returned (200) instead of a new one (201).",
    )


class ReferenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    full_name: Annotated[Line, AfterValidator(_a_name)] = Field(min_length=2, max_length=200)
    relationship: Literal["family", "work", "personal"]
    phones: list[Annotated[Line, Field(max_length=40)]] = Field(default=[], max_length=5)
    source: StaffSource = "skip_trace"
    note: Line | None = Field(default=None, max_length=500)


class ReferenceRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    kind: Literal["reference"]
    full_name: str
    relationship: str | None
    source: str
    phones: list[ContactPointRead] = Field(description="Every phone kept for the reference.")
    merged: bool = Field(
        description="True when a reference of the same name (ignoring accents and case) was "
        "already kept with the account: its phones were added to it (200)."
    )
