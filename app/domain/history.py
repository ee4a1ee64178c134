"""An account's history (``account_event``): the kinds of event, and for each kind the shape
of what it records before and after the change. The one definition of those JSON keys: the
ORM path builds an event from these classes, the set-based ``INSERT … SELECT`` path names an
SQL expression per field (app/services/history.py checks the names and writes the
``jsonb_build_object``), and the readers (reports, snapshots, commissions, experiments,
webhooks) find a key and the kinds that carry it here.

Values are written as the account's columns hold them: money with two decimals (the columns
are ``numeric(18, 2)``), dates as ISO text, ids as text, days past due as a number.

A field whose default is :data:`OMITTED` is written by some changes of its kind only: left
out, its key is absent (not null). Only required keys are read back as "the value on a day".

Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum, StrEnum
from functools import cache
from typing import Any, ClassVar, Final, TypeAlias


class HistoryKind(StrEnum):
    """The kinds ``account_event`` allows (its check constraint is written from these)."""

    CREATED = "created"
    BALANCE_CHANGED = "balance_changed"
    STAGE_CHANGED = "stage_changed"
    ASSIGNED = "assigned"
    STATUS_CHANGED = "status_changed"
    PAUSED = "paused"
    PAUSE_ENDED = "pause_ended"


class Omitted(Enum):
    """The value of a field a change does not record (see the module docstring)."""

    OMITTED = "omitted"


OMITTED: Final = Omitted.OMITTED

# The money columns' scale: history writes amounts as ``numeric(18, 2)`` prints them.
_CENTS = Decimal("0.01")

JsonValue: TypeAlias = str | int | None


# --- What each side of an event records ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrival:
    """``created``, after: the push that brought the account and where it stood."""

    assignment_id: uuid.UUID
    stage: str
    dpd: int
    total: Decimal


@dataclass(frozen=True, slots=True)
class Balances:
    """``balance_changed``, both sides: the balance components and what they rest on."""

    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    past_due_amount: Decimal
    oldest_unpaid_due_date: date | None
    last_payment_date: date | None
    last_payment_amount: Decimal | None


@dataclass(frozen=True, slots=True)
class Delinquency:
    """``stage_changed``, both sides."""

    stage: str
    dpd: int


@dataclass(frozen=True, slots=True)
class Assignee:
    """``assigned``, both sides (null: nobody)."""

    assigned_collector_id: uuid.UUID | None
    assigned_team_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class StatusBefore:
    """``status_changed``, before. A recall also records whom it took the account from."""

    status: str
    assigned_collector_id: uuid.UUID | Omitted | None = OMITTED
    assigned_team_id: uuid.UUID | Omitted | None = OMITTED


@dataclass(frozen=True, slots=True)
class StatusAfter:
    """``status_changed``, after. A push that reactivates the account names itself; a recall
    gives the partner's reason."""

    status: str
    assignment_id: uuid.UUID | Omitted = OMITTED
    reason: str | Omitted | None = OMITTED


@dataclass(frozen=True, slots=True)
class PauseTaken:
    """``paused``, after: the pause recorded."""

    pause_id: uuid.UUID
    reason: str
    starts_on: date
    ends_on: date


@dataclass(frozen=True, slots=True)
class PauseEnd:
    """``pause_ended``, both sides: the pause's last day, planned and then moved."""

    pause_id: uuid.UUID
    ends_on: date


# --- One class per kind: what it records before and after ----------------------------------


@dataclass(frozen=True, slots=True)
class Created:
    KIND: ClassVar[HistoryKind] = HistoryKind.CREATED
    after: Arrival
    before: None = None


@dataclass(frozen=True, slots=True)
class BalanceChanged:
    KIND: ClassVar[HistoryKind] = HistoryKind.BALANCE_CHANGED
    before: Balances
    after: Balances


@dataclass(frozen=True, slots=True)
class StageChanged:
    KIND: ClassVar[HistoryKind] = HistoryKind.STAGE_CHANGED
    before: Delinquency
    after: Delinquency


@dataclass(frozen=True, slots=True)
class Assigned:
    KIND: ClassVar[HistoryKind] = HistoryKind.ASSIGNED
    before: Assignee
    after: Assignee


@dataclass(frozen=True, slots=True)
class StatusChanged:
    KIND: ClassVar[HistoryKind] = HistoryKind.STATUS_CHANGED
    before: StatusBefore
    after: StatusAfter


@dataclass(frozen=True, slots=True)
class Paused:
    KIND: ClassVar[HistoryKind] = HistoryKind.PAUSED
    after: PauseTaken
    before: None = None


@dataclass(frozen=True, slots=True)
class PauseEnded:
    KIND: ClassVar[HistoryKind] = HistoryKind.PAUSE_ENDED
    before: PauseEnd
    after: PauseEnd


HistoryEvent: TypeAlias = (
    Created | BalanceChanged | StageChanged | Assigned | StatusChanged | Paused | PauseEnded
)

EVENTS: Final[dict[HistoryKind, type[Any]]] = {
    cls.KIND: cls
    for cls in (Created, BalanceChanged, StageChanged, Assigned, StatusChanged, Paused, PauseEnded)
}


@dataclass(frozen=True, slots=True)
class Key:
    """One JSON key of a side: its name, the type of its value (without null) and whether
    it may be null or left out."""

    name: str
    type: type
    nullable: bool
    optional: bool


@cache
def keys(shape: type) -> tuple[Key, ...]:
    """The keys of a side's class, in the order they are written."""
    hints = typing.get_type_hints(shape)
    found = []
    for f in dataclasses.fields(shape):
        hint = hints[f.name]
        members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        values = [m for m in members if m not in (type(None), Omitted)]
        if len(values) != 1:
            raise TypeError(f"{shape.__name__}.{f.name}: one value type, not {hint}")
        found.append(Key(f.name, values[0], type(None) in members, f.default is OMITTED))
    return tuple(found)


@cache
def sides(kind: HistoryKind) -> tuple[type | None, type | None]:
    """The classes of the kind's ``before`` and ``after`` (None: that side is null)."""
    hints = typing.get_type_hints(EVENTS[kind])

    def side(name: str) -> type | None:
        shape = hints[name]
        return None if shape is type(None) else shape

    return side("before"), side("after")


def carrying(key: str) -> tuple[HistoryKind, ...]:
    """The kinds that always record ``key`` (required, on either side), in the enum's order;
    an unknown key is an error."""
    found = tuple(
        kind
        for kind in HistoryKind
        for shape in sides(kind)
        if shape is not None and any(k.name == key and not k.optional for k in keys(shape))
    )
    found = tuple(dict.fromkeys(found))
    if not found:
        raise KeyError(f"no history event always records {key!r}")
    return found


def records(kind: HistoryKind, key: str) -> bool:
    """Whether events of ``kind`` record ``key`` on either side (required or optional)."""
    return any(k.name == key for shape in sides(kind) if shape for k in keys(shape))


def json_value(value: object) -> JsonValue:
    """One value as history stores it (see the module docstring)."""
    if value is None or isinstance(value, str | int):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Decimal):
        return str(value.quantize(_CENTS, ROUND_HALF_UP))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"history does not store {type(value).__name__}")


def payload(side: object | None) -> dict[str, JsonValue] | None:
    """A side as the JSON stored (the keys left out are absent)."""
    if side is None:
        return None
    shape = type(side)
    if not dataclasses.is_dataclass(shape):
        raise TypeError(f"a side of a history event is a dataclass, not {shape.__name__}")
    return {
        key.name: json_value(value)
        for key in keys(shape)
        if (value := getattr(side, key.name)) is not OMITTED
    }
