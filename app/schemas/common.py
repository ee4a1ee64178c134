"""Field types every resource shares: text PostgreSQL can store, instants in UTC, money."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    NaiveDatetime,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from app.domain.errors import InvalidValue
from app.domain.money import MONEY_PATTERN, MoneyFormatError, parse_money
from app.i18n import N_

# What no text a client sends may hold: every C0 control (NUL, tab, CR and LF included:
# CR/LF in a title would read as a new header line or a new CSV row), DEL, the C1 controls,
# and the Unicode line and paragraph separators (line breaks to a PDF or a browser).
# PostgreSQL text cannot hold NUL anyway.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
CONTROL_CHARACTER_ERROR = "text_control_character"
NOTE_CONTROL_CHARACTER_ERROR = "note_control_character"


def _storable_text(value: str) -> str:
    found = _CONTROL_CHARACTERS.search(value)
    if found is not None:
        raise PydanticCustomError(
            CONTROL_CHARACTER_ERROR,
            "must not contain control characters such as line breaks or tabs (found U+{code})",
            {"code": f"{ord(found.group()):04X}"},
        )
    return value


def _written_out(example: str) -> Callable[[object], object]:
    # pydantic would read a number ("0.5", "8.64e4", 1700000000) as Unix seconds; the
    # contract says date or date-time, and a number where one belongs is a client's
    # mistake, not a time.
    def check(value: object) -> object:
        if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
            raise InvalidValue(
                N_("must be written out in ISO 8601, like {example}"), {"example": example}
            )
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
        raise InvalidValue(N_("out of the supported date range")) from exc


PlainText = Annotated[str, AfterValidator(_storable_text)]


# A note a person writes (a PCR note, a reason, an outcome) may run over several lines and
# hold tabs; every other control is refused as in PlainText. CR LF and lone CR become LF, so
# what is stored has one kind of line break whatever the client's platform. Such text never
# goes to a header, and CSV and PDF writers quote or wrap it.
_NOTE_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _storable_note(value: str) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    found = _NOTE_CONTROL_CHARACTERS.search(value)
    if found is not None:
        raise PydanticCustomError(
            NOTE_CONTROL_CHARACTER_ERROR,
            "must not contain control characters other than line breaks and tabs (found U+{code})",
            {"code": f"{ord(found.group()):04X}"},
        )
    return value


NoteText = Annotated[str, AfterValidator(_storable_note)]
UtcDatetime = Annotated[
    AwareDatetime, BeforeValidator(_written_out("2026-11-24T15:30:00Z")), AfterValidator(_in_utc)
]
# A date a client sends (YYYY-MM-DD).
CalendarDate = Annotated[date, BeforeValidator(_written_out("2026-11-24"))]
# A wall-clock time without an offset: a local time as someone stated it on their own clock.
# A wall-clock date and time with no offset (a debtor's local time): JSON Schema's
# "date-time" requires an offset, so the contract states its own pattern.
LocalDatetime = Annotated[
    NaiveDatetime,
    BeforeValidator(_written_out("2026-12-10T18:30")),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$",
            "examples": ["2026-12-10T18:30"],
        }
    ),
]


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


def _read_money(value: object) -> Decimal:
    # A Decimal comes from Python callers (the demo seed), never from a JSON body; it is read
    # through its text, so Decimal("1E+3") is refused like "1e3".
    if isinstance(value, Decimal):
        value = str(value)
    if not isinstance(value, str):
        raise PydanticCustomError("money_type", 'must be a JSON string such as "1234.50"')
    try:
        return parse_money(value)
    except MoneyFormatError as exc:
        raise PydanticCustomError(exc.code, exc.message) from None


def _more_than_zero(amount: Decimal) -> Decimal:
    if amount == 0:
        raise PydanticCustomError("money_not_positive", "must be more than zero")
    return amount


_MONEY_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "pattern": MONEY_PATTERN,
        "examples": ["1234.50"],
        "description": "An amount: ASCII digits with an optional decimal point, as a JSON "
        "string; at most the decimals of its currency (none for CLP).",
    }
)

# Money in a request, the only way the API reads an amount. Decided:
# - a JSON string only: a JSON number is refused, a float because binary floats are not
#   money (99.5 is already not what was typed by the time it is read), an integer so that
#   one form is the contract, not two;
# - the text is read by app.domain.money.parse_money (the intake and payment-file readers
#   use the same function): ASCII digits, an optional "." with 1 to 4 digits, at most 16
#   digits before it. No sign (no request amount is negative; a field that needed one would
#   get a signed variant here), no exponent, no thousands separator, no blanks, no "NaN" or
#   "Infinity", no digits of other scripts ("٩٩", "９９");
# - the currency's own decimals (2 for MXN, 0 for CLP) are checked where the currency is
#   known, by the service, with app.domain.money.fits_minor_unit: never rounded.
# Errors carry stable types (money_type, money_format, money_negative, money_too_large,
# money_too_many_decimals, money_not_positive), each with a Spanish message in
# app/problems.py.
Money = Annotated[Decimal, BeforeValidator(_read_money), _MONEY_SCHEMA]
# The same, and more than zero: a payment, a promise, a target.
PositiveMoney = Annotated[
    Decimal, BeforeValidator(_read_money), AfterValidator(_more_than_zero), _MONEY_SCHEMA
]


def _ascii_number(value: object) -> object:
    # Python's Decimal reads digits of any script ("９９", "٩٩"): a number a client sends is
    # written in ASCII, like money (app.domain.money).
    if isinstance(value, str) and not value.isascii():
        raise PydanticCustomError("decimal_parsing", "must be written with ASCII digits")
    return value


# A decimal in a request that is not money (a percentage, a rate, a coordinate): ASCII only.
AsciiDecimal = Annotated[Decimal, BeforeValidator(_ascii_number)]


def one_of(codes: Iterable[str]) -> dict[str, Any]:
    """``json_schema_extra`` stating a code's values as an enum in the contract, where the
    value is checked by the rule that owns the list (its own message), or is written by the
    server (a response never fails validation on a code the contract lags behind)."""
    return {"enum": sorted(codes)}


# An upload's progress (a push, a payment file, a SPEI statement), as the job last wrote it
# (app/services/uploads.py).
RowsDone = Annotated[
    int,
    Field(
        description="Rows processed so far (all of them once finished); updated per chunk "
        "while processing."
    ),
]
RowsTotal = Annotated[
    int | None, Field(description="Rows in the upload: null until the job has counted them.")
]
