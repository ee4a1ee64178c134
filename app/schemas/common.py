"""Field types every resource shares: text PostgreSQL can store, instants in UTC."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


def _storable_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _written_out(example: str) -> Callable[[object], object]:
    # pydantic would read a number ("0.5", "8.64e4", 1700000000) as Unix seconds; the
    # contract says date or date-time, and a number where one belongs is a client's
    # mistake, not a time.
    def check(value: object) -> object:
        if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
            raise ValueError(f"must be written out in ISO 8601, like {example}")
        return value

    return check


def _is_number(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("out of the supported date range") from exc


PlainText = Annotated[str, AfterValidator(_storable_text)]
UtcDatetime = Annotated[
    AwareDatetime, BeforeValidator(_written_out("2026-11-24T15:30:00Z")), AfterValidator(_in_utc)
]
# A date a client sends (YYYY-MM-DD).
CalendarDate = Annotated[date, BeforeValidator(_written_out("2026-11-24"))]


@dataclass(frozen=True, slots=True)
class StatedPattern:
    """A pattern the contract states for a rule a validator enforces with its own message
    (``Annotated[str, AfterValidator(check), StatedPattern(...)]``): the JSON Schema says
    it, the validator's error stays the one clients get."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema: dict[str, Any] = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


# Text refused when it is nothing but blanks: at least one character that is not one.
NOT_BLANK = StatedPattern(r"\S")


# Text trimmed of blanks at both ends and never empty after that: names, titles, tax ids.
# The trim and the minimum sit on `str` itself: stacked on PlainText, pydantic would check
# the length before trimming and let "   " through as "". Add the maximum with Field.
TrimmedText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(_storable_text),
    NOT_BLANK,
]
