"""Money: the currencies' minor units and the one way an amount is read from text.

Every amount that enters Cartera (a request body, an intake row, a payment file line) is read
by :func:`parse_money` and then held to its currency's minor unit with
:func:`fits_minor_unit`: an amount with more decimals than its currency has is refused, never
stored rounded. The API's money type (``app/schemas/common.py``) and the file readers
(``app/domain/assignments.py``) share the parser, so an amount is read the same way whatever
door it comes through.

What an amount looks like (:data:`MONEY_PATTERN`): ASCII digits, at most
:data:`MAX_INTEGER_DIGITS` of them before an optional decimal point followed by one to
:data:`MAX_FRACTION_DIGITS` digits. Nothing else: no sign (no amount that enters is
negative), no exponent ("1e3"), no thousands separator ("1,000.00"), no blanks, no "NaN" or
"Infinity", and no digits of other scripts ("٩٩", "９９"), which Python's ``Decimal`` would
otherwise read.

One exception, for files only: a CSV separated by semicolons is what Excel writes in Spanish
and Portuguese locales, whose decimal mark is the comma. Its amount cells are
:class:`DecimalCommaText`, read with ``decimal_comma``: ``1234,56`` and ``1.234,56`` (points
grouping thousands by three) are 1234.56, ``1234.56`` is still read as written, and
``1.234`` (a thousands point or a decimal one?) is refused as ambiguous. Nowhere else is a
comma read: in a comma-separated file an amount with a comma is refused.

Pure: no I/O.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from app.domain.errors import InvalidInput
from app.i18n import N_, Message

# ISO 4217 minor units (the exponent) of the currencies Cartera's partners work in.
MINOR_UNITS: dict[str, int] = {"MXN": 2, "COP": 2, "PEN": 2, "CLP": 0, "BRL": 2, "USD": 2}
# What a currency without a rule is held to: ISO 4217's most common exponent.
DEFAULT_MINOR_UNIT = 2

# Amounts are stored as NUMERIC(18, 2): sixteen digits before the point.
MAX_INTEGER_DIGITS = 16
# ISO 4217's largest exponent is 4; more decimals than that are never an amount.
MAX_FRACTION_DIGITS = 4
MONEY_PATTERN = rf"^[0-9]{{1,{MAX_INTEGER_DIGITS}}}(\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?$"
_MONEY = re.compile(MONEY_PATTERN, re.ASCII)
# A plain decimal number (ASCII digits, a sign, a point), to say which bound it breaks.
_PLAIN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?", re.ASCII)
# A decimal comma after the integer part, bare or grouped in thousands by points.
_DECIMAL_COMMA = re.compile(r"([0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+),([0-9]+)", re.ASCII)
_GROUPED = re.compile(r"[0-9]{1,3}(\.[0-9]{3})+", re.ASCII)
FORMAT_MESSAGE = N_("must be a decimal amount of ASCII digits and an optional point, like 1234.50")


class MoneyFormatError(ValueError):
    """Text that is not an amount. ``code`` is stable (``money_format``, ``money_negative``,
    ``money_too_large``, ``money_too_many_decimals``); ``text`` says it in the reader's
    language, ``message`` in English."""

    def __init__(self, code: str, message: str | Message) -> None:
        self.text = message if isinstance(message, Message) else Message(message)
        self.message = str(self.text)
        super().__init__(self.message)
        self.code = code


class DecimalCommaText(str):
    """An amount's text from a file whose decimal mark is the comma (a CSV separated by
    semicolons): the file reader marks the cells, the field reader reads them so."""

    __slots__ = ()


def parse_money(text: str, *, decimal_comma: bool = False) -> Decimal:
    """The amount ``text`` writes, or :class:`MoneyFormatError` saying why it is not one.
    With ``decimal_comma``, the comma is the decimal mark and points may group thousands.

    The text of any non-negative ``Decimal`` within the bounds, written without exponent,
    reads back equal."""
    if decimal_comma:
        text = _from_decimal_comma(text)
    if _MONEY.fullmatch(text):
        return Decimal(text)
    if _PLAIN.fullmatch(text):
        if text.startswith("-"):
            raise MoneyFormatError("money_negative", N_("must not be negative"))
        if not text.startswith("+"):
            whole, _, fraction = text.partition(".")
            if len(fraction) > MAX_FRACTION_DIGITS:
                raise MoneyFormatError(
                    "money_too_many_decimals",
                    Message(
                        N_("must have at most {digits} decimals"), {"digits": MAX_FRACTION_DIGITS}
                    ),
                )
            if len(whole) > MAX_INTEGER_DIGITS:
                raise MoneyFormatError("money_too_large", N_("is too large"))
    raise MoneyFormatError("money_format", FORMAT_MESSAGE)


def _from_decimal_comma(text: str) -> str:
    """``text`` written with a decimal comma, as the point-decimal text :func:`parse_money`
    reads; an integer grouped by points is refused, since it reads both ways."""
    found = _DECIMAL_COMMA.fullmatch(text)
    if found is not None:
        return found.group(1).replace(".", "") + "." + found.group(2)
    if _GROUPED.fullmatch(text):
        raise MoneyFormatError(
            "money_ambiguous",
            N_(
                "is ambiguous: with a decimal comma, write 1234 or 1234,00 without thousands points"
            ),
        )
    return text


def minor_unit_of(currency: str) -> int:
    """The currency's ISO 4217 exponent: 2 for MXN, 0 for CLP (2 when no rule is known)."""
    return MINOR_UNITS.get(currency, DEFAULT_MINOR_UNIT)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: 0.01, or 1 for CLP."""
    try:
        return Decimal(1).scaleb(-MINOR_UNITS[currency])
    except KeyError:
        raise InvalidInput(
            "currency", N_("no minor-unit rule for {currency!r}"), {"currency": currency}
        ) from None


def fits_minor_unit(amount: Decimal, currency: str) -> bool:
    """Whether ``amount`` has no more decimals than ``currency`` (two when no rule is known:
    ISO 4217's most common). Trailing zeros do not count: 1000.00 is a whole CLP amount."""
    step = Decimal(1).scaleb(-minor_unit_of(currency))
    return amount == amount.quantize(step)


def too_many_decimals(currency: str) -> Message:
    """What to say of an amount that does not fit ``currency``'s minor unit."""
    places = minor_unit_of(currency)
    if places == 0:
        return Message(
            N_("must be a whole amount: {currency} has no decimals"), {"currency": currency}
        )
    return Message(
        N_("has more decimals than {currency} has ({places})"),
        {"currency": currency, "places": places},
    )


def round_money(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``amount`` to the currency's minor unit; half-up unless told otherwise."""
    return amount.quantize(minor_unit(currency), rounding=rounding)


class NotInMinorUnits(ValueError):
    """An amount with more decimals than its currency has: it has no exact minor units."""


def to_minor(amount: Decimal, currency: str) -> int:
    """``amount`` in the currency's minor units (centavos; pesos for CLP), exactly: refused,
    never rounded, when it has more decimals than the currency."""
    scaled = amount.scaleb(minor_unit_of(currency))
    if scaled != scaled.to_integral_value():
        raise NotInMinorUnits(f"{amount} has more decimals than {currency} has")
    return int(scaled)


def from_minor(units: int, currency: str) -> Decimal:
    """Minor units back to an amount written with the currency's decimals."""
    places = minor_unit_of(currency)
    return Decimal(units).scaleb(-places).quantize(Decimal(1).scaleb(-places))
