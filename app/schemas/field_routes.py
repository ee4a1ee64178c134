"""API shapes of field visit routes and field collectors' route profiles."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from app.domain.field_routes import DueKind
from app.domain.stages import Stage
from app.schemas.common import AsciiDecimal, Money, PlainText

# A local wall-clock time as "HH:MM" (JSON Schema's `time` format would need a UTC offset,
# which a shift in the collector's own zone does not have).
WallClock = Annotated[
    time,
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"}),
]


class FieldProfileWrite(BaseModel):
    """The whole profile (PUT replaces it); omitted fields take their defaults."""

    model_config = ConfigDict(extra="forbid")

    start_latitude: AsciiDecimal | None = Field(
        default=None,
        ge=-90,
        le=90,
        max_digits=9,
        decimal_places=6,
        description="Where the day starts (with start_longitude); null: the first stop.",
    )
    start_longitude: AsciiDecimal | None = Field(
        default=None, ge=-180, le=180, max_digits=9, decimal_places=6
    )
    daily_capacity: int = Field(default=12, ge=1, le=60, description="Visits a day at most.")
    shift_start: WallClock = Field(default=time(9, 0), description="Local wall-clock time.")
    shift_end: WallClock = Field(default=time(19, 0), description="The last visit ends by then.")
    time_zone: PlainText | None = Field(
        default=None,
        max_length=64,
        description="IANA zone of the shift; null: the zone of the day's stops.",
    )
    service_minutes: int = Field(default=20, ge=5, le=240, description="Minutes per visit.")
    speed_kmh: int = Field(
        default=25, ge=5, le=120, description="Average travel speed between visits."
    )


class FieldProfileRead(BaseModel):
    user_id: uuid.UUID
    start_latitude: Decimal | None
    start_longitude: Decimal | None
    daily_capacity: int
    shift_start: WallClock
    shift_end: WallClock
    time_zone: str | None
    service_minutes: int
    speed_kmh: int
    is_default: bool = Field(description="True when nothing was set: these are the defaults.")
    version: int | None
    updated_by: str | None
    updated_at: datetime | None


class RouteStartRead(BaseModel):
    latitude: Decimal | None
    longitude: Decimal | None
    source: Literal["query", "profile", "first_stop"] = Field(
        description="Where the start point came from; first_stop: the route starts at its "
        "first visit."
    )


class RouteSettingsRead(BaseModel):
    daily_capacity: int
    service_minutes: int
    speed_kmh: int
    detour_factor: float = Field(description="Street distance over straight-line distance.")
    shift_starts_at: datetime
    shift_ends_at: datetime
    time_zone: str = Field(description="The zone the shift is read in.")
    solver_time_limit_seconds: float


class VisitWindowRead(BaseModel):
    opens_at: datetime = Field(description="Local time (the debtor's zone).")
    closes_at: datetime = Field(description="Local time; the visit ends by then.")


class RouteDueRead(BaseModel):
    """The account's obligation due first: the earliest due date among its pending promises
    to pay and the unpaid installments of its active plan. An overdue one is still due and
    comes first; on the same date an installment comes before a promise."""

    kind: DueKind = Field(examples=["plan_installment"])
    amount: Money = Field(description="What is still owed of it.", examples=["1250.00"])
    currency: str = Field(examples=["MXN"])
    due_date: date = Field(examples=["2026-11-30"])
    overdue: bool = Field(description="Due before the route's date and still unpaid.")
    promise_id: uuid.UUID | None = Field(description="With kind promise.")
    plan_id: uuid.UUID | None = Field(description="With kind plan_installment.")
    installment_number: int | None = Field(
        description="With kind plan_installment; 0 is the down payment.", examples=[2]
    )


class RouteStopRead(BaseModel):
    sequence: int
    account_id: uuid.UUID
    external_ref: str
    debtor_name: str = Field(
        description="The debtor's name as this account's partner sent it (shown as account "
        "answers show it to whoever may read the account).",
        examples=["María Fernanda López García"],
    )
    currency: str = Field(description="ISO 4217 code of the amounts.", examples=["MXN"])
    total: Money = Field(description="The balance owed.", examples=["18250.00"])
    past_due_amount: Money = Field(examples=["3200.00"])
    dpd: int = Field(description="Days past due as of the last aging.", examples=[75])
    stage: Stage = Field(examples=["late"])
    due: RouteDueRead | None = Field(
        description="The promise or plan installment due first; null when none is pending."
    )
    visited_today: bool = Field(
        description="A visit was already recorded on the route's date (the address's local "
        "day). Such stops come only with include_visited, after the day's first visits."
    )
    contact_point_id: uuid.UUID
    address: str = Field(description="The street line, masked.", examples=["Cal***"])
    municipality: str | None = Field(
        description="Held in clear for routing, like the state and postal code (the colonia "
        "is part of the sealed street line).",
        examples=["Cuauhtémoc"],
    )
    state: str | None = Field(examples=["Ciudad de México"])
    postal_code: str | None = Field(examples=["06000"])
    latitude: Decimal
    longitude: Decimal
    time_zone: str
    distance_km: float = Field(description="From the previous stop or the start point.")
    travel_minutes: int
    arrival: datetime = Field(description="Estimated start of the visit, local time.")
    departure: datetime = Field(description="Estimated end of the visit, local time.")
    wait_minutes: int = Field(description="Minutes waited for the window to open.")
    window: VisitWindowRead


class RouteTotalsRead(BaseModel):
    stops: int
    distance_km: float
    travel_minutes: int
    wait_minutes: int
    service_minutes: int
    ends_at: datetime | None = Field(description="The last visit's departure, local time.")


LeftOutReason = Literal[
    "capacity",
    "outside_window",
    "too_far",
    "visited_today",
    "no_address",
    "no_coordinates",
    "contact_not_allowed",
]


class LeftOutRead(BaseModel):
    account_id: uuid.UUID
    external_ref: str
    reason: LeftOutReason = Field(
        description="capacity: the day is full; too_far: out of reach (see distance_km); "
        "outside_window: its visit hours cannot be met on the shift or along the route; "
        "visited_today: already visited on the route's date (plan it with include_visited); "
        "no_address, no_coordinates; contact_not_allowed: see rules.",
        examples=["too_far"],
    )
    distance_km: float | None = Field(
        default=None,
        description="With too_far: straight-line kilometres from the start point (or, "
        "without one, from the nearest stop of the route) that put it out of reach.",
        examples=[412.7],
    )
    rules: list[str] = Field(
        default_factory=list,
        description="With contact_not_allowed: the contact check's reason codes.",
    )


class RouteRead(BaseModel):
    date: date
    collector_id: uuid.UUID
    method: Literal["ortools", "greedy", "empty"] = Field(
        description="ortools: the routing solver's route; greedy: its fallback."
    )
    start: RouteStartRead
    settings: RouteSettingsRead
    stops: list[RouteStopRead]
    totals: RouteTotalsRead
    left_out: list[LeftOutRead]
    notes: list[str]
