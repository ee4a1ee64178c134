"""The country rule packs as the API shows them (read-only)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.domain.compliance import ContactChannel, DebtorFlag, ReferenceRule
from app.domain.packs import Trigger


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
