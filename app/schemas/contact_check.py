"""API shapes of the contact check: the question, its answer with reasons, and the country
rule packs it weighs (read-only)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.contact_check import REASON_CODES, ContactChannel, DebtorFlag, ReferenceRule
from app.domain.contact_check_packs import Trigger
from app.schemas.common import UtcDatetime, one_of
from app.schemas.interactions import PartyName


class HourWindowRead(BaseModel):
    """Local wall-clock time of the person: ``start`` included, ``end`` excluded unless
    ``end_included`` (the US: only "after 9:00 p.m." is barred, so the minute of 21:00 is
    allowed)."""

    start: str = Field(examples=["07:00"], description="HH:MM, included.")
    end: str = Field(
        examples=["22:00"],
        description="HH:MM, excluded unless `end_included`; `24:00` ends the day.",
    )
    end_included: bool = Field(
        default=False, description="The minute starting at `end` is allowed."
    )


class WeeklyHours(BaseModel):
    """The window of each weekday; null: no contact that day."""

    monday: HourWindowRead | None
    tuesday: HourWindowRead | None
    wednesday: HourWindowRead | None
    thursday: HourWindowRead | None
    friday: HourWindowRead | None
    saturday: HourWindowRead | None
    sunday: HourWindowRead | None


class FrequencyCapRead(BaseModel):
    """At most ``limit`` contacts by the ``channels`` together within ``period_days``."""

    channels: list[ContactChannel]
    period_days: int = Field(
        description="1: the local calendar day; more: a rolling window of that many days."
    )
    limit: int
    min_days_between: int = Field(description="Whole local days required between two contacts.")
    source: str
    per_debt: bool = Field(
        default=False,
        description="Counts only calls the agency placed to this person about this account "
        "(Reg F: per particular debt); a strategy may count across debts, as policy.",
    )
    calendar_days: bool = Field(
        default=False, description="The period is that many local calendar days ending today."
    )


class AfterContactRuleRead(BaseModel):
    """What a contact that reached someone forbids for a while."""

    code: str = Field(description="The reason code a contact it blocks is refused with.")
    trigger: Trigger = Field(
        description="`direct`: the debtor was reached; `conversation`: anyone was; `person`: "
        "the person now to be contacted was, about this debt."
    )
    trigger_channels: list[ContactChannel] | None = Field(
        description="null: a contact by any channel."
    )
    blocked_channels: list[ContactChannel] | None = Field(description="null: every channel.")
    other_channels_only: bool = Field(
        description="Only channels other than the triggering contact's are blocked."
    )
    days: int = Field(description="0 or 1: the rest of that local day; more: a rolling window.")
    description: str
    source: str
    calendar_days: bool = Field(
        default=False,
        description="The trigger's local date is the first of `days` calendar days.",
    )


class ScriptsRead(BaseModel):
    """What may be said to each party."""

    debtor: str
    guarantor: str
    reference: str


class RulePackRead(BaseModel):
    """A country's contact law as the pre-contact check applies it (operator overrides, which
    only make it stricter, included)."""

    country: str = Field(examples=["MX"])
    version: str = Field(
        examples=["MX-2026.1"], description="`+…` when the operator made the pack stricter."
    )
    sources: list[str]
    citations: dict[str, str] = Field(
        description="The statute, article and paragraph behind each refusal the law gives, by "
        "reason code (`hours` for the day and hour rules); other refusals are policy."
    )
    hours: WeeklyHours
    hours_in_law: bool = Field(description="false: the law sets no hours (the day is open).")
    untimed_channels: list[ContactChannel] = Field(
        description="Channels the hours do not apply to."
    )
    excluded_weekdays: list[str]
    excludes_holidays: bool = Field(description="Public holidays of the country are excluded.")
    excluded_dates: list[date] = Field(description="Dates the operator excluded.")
    caps: list[FrequencyCapRead]
    after_contact: list[AfterContactRuleRead]
    references: ReferenceRule
    third_party_rule: str
    visits_allowed: bool
    consent_required: bool = Field(description="Only channels the debtor authorised.")
    vulnerable_flags: list[DebtorFlag] = Field(
        description="Debtor flags that forbid collecting from the debtor."
    )
    dispute_stops_collection: bool = Field(
        description="A dispute flag is a hard stop (otherwise a soft refusal)."
    )
    prohibitions: list[str]
    scripts: ScriptsRead


class ContactCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ContactChannel
    contact_point_id: uuid.UUID | None = Field(
        default=None, description="The phone, email or address to be used; its owner is the party."
    )
    party: PartyName | None = Field(
        default=None, description="Who is to be reached, when no contact point is named."
    )
    at: UtcDatetime | None = Field(default=None, description="When; default now.")
    party_flags: list[Literal["minor", "older_adult"]] = Field(
        default_factory=list,
        description="What is known of the person to be reached when it is not the debtor: "
        "a reference or guarantor who is a minor or an older adult (60+). Mexico's law bars "
        "collection with them; an older adult who is the debtor may be contacted.",
    )


class ReasonRead(BaseModel):
    code: str = Field(json_schema_extra=one_of(REASON_CODES))
    message: str
    hard: bool = Field(
        description="A hard rule: do not make the contact. One that was made anyway is "
        "recorded with this verdict; breaking the law opens a compliance incident."
    )
    basis: Literal["law", "policy"] = Field(
        description="`law`: the country's law forbids it (see `citation`); `policy`: the "
        "partner's strategy, the operator's stricter settings or the agency's practice."
    )
    citation: str | None = Field(
        default=None, description="Statute, article and paragraph; set on every law reason."
    )


class ContactCheckRead(BaseModel):
    allowed: bool
    reasons: list[ReasonRead]
    next_allowed_at: datetime | None = Field(
        description="The earliest time the same check answers allowed; null when allowed now "
        "or when only the debtor or the partner can lift what blocks it."
    )
    script: str = Field(description="What may be said to the person reached.")
    time_zone: str = Field(
        description="The zone that decided: of the candidate zones, the one whose answer this "
        "is (the strictest; when allowed, the first)."
    )
    time_zones: list[str] = Field(
        description="Every zone the person may be in, from the debtor's evidence (address "
        "region, phone area, other points); a contact is allowed only if allowed in each."
    )
    pack_version: str
    strategy_version: int
    experiment_arm_id: uuid.UUID | None = Field(
        default=None,
        description="The champion/challenger arm whose strategy was applied, while an "
        "experiment runs on the account's stage (checks are not stored: the interaction "
        "that follows records the arm).",
    )
    evaluated_at: datetime


# The enum sits on the text itself, so that null stays allowed beside it in the contract.
