"""API shapes of interactions (gestiones), feedback, promises and
escalations."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.contact_check import RESULT_CODES, ContactChannel
from app.domain.interactions import NOT_ASKED, PROBLEM_CATEGORIES
from app.schemas.accounts import AccountLabelRead
from app.schemas.common import (
    AsciiDecimal,
    CalendarDate,
    LocalDatetime,
    NoteText,
    PlainText,
    PositiveMoney,
    UtcDatetime,
    one_of,
)

PartyName = Literal["debtor", "reference", "guarantor"]
ConsentSourceName = Literal[
    "partner_file", "debtor_in_interaction", "signed_document", "debtor_request"
]


ProblemCategoryName = Annotated[
    str, Field(json_schema_extra=one_of(PROBLEM_CATEGORIES | {NOT_ASKED}))
]
ProblemCategoryText = Annotated[
    PlainText, Field(json_schema_extra=one_of(PROBLEM_CATEGORIES | {NOT_ASKED}))
]


class PcrIn(BaseModel):
    """Problem, circumstance, resolution. Where the law forbids asking why the debtor stopped
    paying (Colombia, Ley 2300 de 2023 art. 3) do not ask: the problem category is
    `not_asked` (the default there) and the problem stays empty; only the resolution is
    required. Elsewhere all four are required on a right-party contact."""

    model_config = ConfigDict(extra="forbid")

    problem_category: ProblemCategoryText | None = Field(
        default=None,
        max_length=32,
        description="unemployment, reduced_income, illness, over_indebtedness, "
        "business_failure, family_emergency, disagrees_with_debt, forgot, fraud_claim, "
        "unwilling, other; `not_asked` (and the default) where the law forbids the question.",
    )
    problem: NoteText | None = Field(default=None, max_length=2000)
    circumstance: NoteText | None = Field(default=None, max_length=2000)
    resolution: NoteText | None = Field(default=None, max_length=2000)


class PositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latitude: AsciiDecimal = Field(ge=-90, le=90, max_digits=9, decimal_places=6)
    longitude: AsciiDecimal = Field(ge=-180, le=180, max_digits=9, decimal_places=6)
    accuracy_m: int = Field(ge=0, le=100_000)


class PromiseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney = Field(
        description="More than zero, in the account's currency, at most its decimals (none "
        "for CLP)."
    )
    due_date: CalendarDate


class CallbackIn(BaseModel):
    """The time the debtor asked to be called back, as they said it: on their own clock."""

    model_config = ConfigDict(extra="forbid")

    local_time: LocalDatetime = Field(
        description="The agreed date and time on the debtor's clock, without an offset "
        "(`2026-12-10T18:30`; seconds are dropped). Ahead of now, at most 30 days."
    )
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$",
        description="The IANA zone the time was agreed in: one of the zones the contact "
        "check places the debtor in (its `time_zones`). Needed only when there are several.",
    )


class InteractionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ContactChannel
    direction: Literal["outbound", "inbound"] = "outbound"
    contact_point_id: uuid.UUID | None = None
    party: Literal["debtor", "reference", "guarantor", "none"]
    result_code: str = Field(
        max_length=24,
        json_schema_extra=one_of(RESULT_CODES),
        description="A code of the taxonomy (GET /catalog says what each requires).",
    )
    started_at: UtcDatetime
    ended_at: UtcDatetime | None = None
    notes: NoteText | None = Field(default=None, max_length=4000)
    pcr: PcrIn | None = Field(default=None, description="Required on right-party contacts.")
    position: PositionIn | None = Field(default=None, description="Required on visits.")
    promise: PromiseIn | None = Field(default=None, description="Required with RPC_PTP.")
    callback: CallbackIn | None = Field(
        default=None,
        description="Required with RPC_CALLBACK, refused with any other result. The account "
        "heads its collector's work queue from that time, or from the contact law's next "
        "allowed moment when a call then is not allowed.",
    )
    amends_id: uuid.UUID | None = Field(
        default=None, description="The interaction this one corrects; the original stays."
    )
    backdated_reason: NoteText | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Why an outbound contact is entered after the fact. Collectors enter "
        "outbound contacts as they end (the end within 5 minutes of the server's clock, the "
        "start within 2 hours); later, a team lead, manager or admin enters it with this "
        "reason, and it is judged at its stated `started_at`.",
    )


class PcrRead(BaseModel):
    problem_category: ProblemCategoryName | None
    problem: str | None
    circumstance: str | None
    resolution: str | None


class InteractionRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    collector_id: uuid.UUID | None
    channel: str
    direction: str
    contact_point_id: uuid.UUID | None
    party: str
    result_code: str = Field(json_schema_extra=one_of(RESULT_CODES))
    started_at: datetime
    ended_at: datetime | None
    notes: str | None
    pcr: PcrRead
    latitude: Decimal | None
    longitude: Decimal | None
    gps_accuracy_m: int | None
    position_mismatch: bool | None = Field(
        description="On a visit: whether the recorded position was farther from the visited "
        "address than the tolerance plus the fix's accuracy (flagged, still recorded); null "
        "when there was nothing to compare (no position, or an address without coordinates)."
    )
    position_distance_m: int | None = Field(
        description="On a visit: metres between the recorded position and the visited "
        "address's coordinates; null when there was nothing to compare."
    )
    address_verification: str | None
    pack_version: str
    strategy_version: int | None
    compliance: dict[str, Any] = Field(
        description="The verdict of the contact law and the strategy at `started_at`: "
        "`allowed`, `reasons` (each `code`, `message`, `hard`, `basis` law or policy, "
        "`citation`), the time zone, and `incident_id` when a law was broken."
    )
    amends_id: uuid.UUID | None
    backdated_reason: str | None = None
    promise_id: uuid.UUID | None = None
    callback_id: uuid.UUID | None = Field(
        default=None, description="The callback a RPC_CALLBACK scheduled (GET /callbacks)."
    )
    created_at: datetime


class InteractionListItem(InteractionRead):
    """An interaction in a cross-account list, with what a list screen shows of its account."""

    account: AccountLabelRead = Field(
        description="The account's reference, its debtor's name and its collector."
    )


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: NoteText = Field(min_length=1, max_length=2000)


class FeedbackRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    interaction_id: uuid.UUID
    author_id: uuid.UUID
    note: str
    created_at: datetime


PromiseStatusName = Literal["pending", "kept", "partially_kept", "broken", "cancelled"]


class PromiseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    interaction_id: uuid.UUID
    amount: Decimal
    currency: str
    due_date: date
    status: PromiseStatusName
    paid_amount: Decimal
    grace_days: int
    tolerance_pct: Decimal
    strategy_version: int | None
    resolved_on: date | None
    created_at: datetime


class PromiseListItem(PromiseRead):
    """A promise in a cross-account list, with what a list screen shows of its account."""

    account: AccountLabelRead = Field(
        description="The account's reference, its debtor's name and its collector."
    )


class ConsentSet(BaseModel):
    """A consent names its evidence; a revocation needs none. Collectors record consent only
    from a right-party interaction of the account (`interaction_id`); team leads and managers
    also from a signed document (`document_id`); partner systems from their own record
    (`partner_reference`)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["granted", "opted_out"]
    source: ConsentSourceName | None = Field(
        default=None, description="Default: what the evidence given implies."
    )
    interaction_id: uuid.UUID | None = Field(
        default=None, description="The right-party contact in which the debtor said so."
    )
    document_id: uuid.UUID | None = Field(
        default=None, description="The account document the debtor signed."
    )
    partner_reference: PlainText | None = Field(
        default=None, min_length=1, max_length=120, description="The partner's own record."
    )
    given_at: UtcDatetime | None = Field(
        default=None,
        description="Partner systems: when the debtor gave it (default now). Otherwise the "
        "evidence's own time.",
    )


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel: ContactChannel
    status: Literal["granted", "opted_out"]
    source: ConsentSourceName | Literal["portal", "unrecorded"] = Field(
        description="`portal`: the debtor's own word in the self-service portal (the "
        "portal interaction is the evidence); `unrecorded`: stored before consents kept "
        "their provenance."
    )
    evidence_interaction_id: uuid.UUID | None
    evidence_document_id: uuid.UUID | None
    partner_reference: str | None
    given_at: datetime
    recorded_by: str
    recorded_at: datetime
