"""One row of an assignment push: its shape, its rules, and what a valid row becomes.

Rows arrive nested (JSON) or flat (CSV and Excel columns, see :data:`CSV_COLUMNS`); the flat
form is turned into the nested one first, so every format meets the same rules. A row is
either an :class:`AccountRow` or the list of everything wrong with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from app.domain.errors import Text
from app.domain.file_kit import (
    ColumnKind,
    FileColumn,
    amount_names,
    column_names,
    required_names,
)
from app.domain.geography import time_zone_for, time_zone_for_phone
from app.domain.identity import (
    ID_COUNTRY,
    Country,
    InvalidId,
    NationalIdType,
    normalise_national_id,
    normalise_phone,
)
from app.domain.money import (
    FORMAT_MESSAGE,
    DecimalCommaText,
    MoneyFormatError,
    fits_minor_unit,
    from_minor,
    minor_unit_of,
    parse_money,
    too_many_decimals,
)
from app.domain.stages import ProductType
from app.i18n import N_, Message

MAX_REFERENCES = 3
MAX_GUARANTORS = 2
MAX_CONTACTS = 5  # phones, emails or addresses per person
CONSENT_CHANNELS = ("call", "sms", "email", "whatsapp", "letter", "visit")
LIST_SEPARATOR = "|"  # several phones or emails in one CSV cell
CENT = Decimal("0.01")  # amounts are stored as NUMERIC(18, 2)
EARLIEST_DATE = date(1900, 1, 1)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
# Control characters, lone surrogates (valid in JSON text, not storable as UTF-8), and the
# invisible format characters (zero-width, bidirectional overrides, BOM) that would make two
# equal-looking references differ.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_MX_POSTAL_CODE = re.compile(r"^[0-9]{5}$")
# ASCII digits only: \d would also take Arabic-Indic and full-width digits.
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True, slots=True)
class IntakeContext:
    """What rows are checked against: the partner's country and currency, and today's date
    in the partner's time zone (no date in a row may come after it). ``fingerprint_key``
    keys each row's content fingerprint: a plain hash of a row that holds a national id
    could be reversed by guessing the id."""

    country: Country
    currency: str
    today: date
    fingerprint_key: bytes = b""


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row (or a line) is refused: ``text`` is shown in the reader's language,
    ``message`` is it in English."""

    field: str
    text: Message

    def __post_init__(self) -> None:
        if not isinstance(self.text, Message):  # English marked N_, without values
            object.__setattr__(self, "text", Message(self.text))

    @property
    def message(self) -> str:
        return str(self.text)


@dataclass(frozen=True, slots=True)
class ContactIn:
    kind: str  # phone, email, address
    value: str
    state: str | None = None
    municipality: str | None = None
    postal_code: str | None = None
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentIn:
    """A channel the debtor authorised to (or withdrew from) the partner, as the partner's
    own record says: source ``partner_file`` with its reference (Ley 2300 de 2023 art. 2:
    in Colombia only authorised channels are used)."""

    channel: str
    status: str  # granted, opted_out
    partner_reference: str | None
    given_on: date | None  # the partner's date; without it a grant never lifts an opt-out


@dataclass(frozen=True, slots=True)
class PartyIn:
    kind: str  # reference, guarantor
    full_name: str
    relationship: str | None
    national_id_type: str | None
    national_id: str | None
    contacts: tuple[ContactIn, ...]


@dataclass(frozen=True, slots=True)
class AccountRow:
    row_number: int
    external_ref: str
    product_type: ProductType
    currency: str
    original_amount: Decimal
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    past_due_amount: Decimal
    oldest_unpaid_due_date: date | None
    last_payment_date: date | None
    last_payment_amount: Decimal | None
    national_id_type: str
    national_id: str
    first_names: str
    last_names: str
    birth_date: date | None
    contacts: tuple[ContactIn, ...]
    parties: tuple[PartyIn, ...]
    content_hash: str
    consents: tuple[ConsentIn, ...] = ()


# ---------------------------------------------------------------------------------------
# Flat columns (CSV, Excel), in the documented order (app/domain/file_kit.py)

_AMOUNT = ColumnKind.AMOUNT
_ACCOUNT_FILE_COLUMNS: tuple[FileColumn, ...] = (
    FileColumn(
        "external_ref",
        ColumnKind.TEXT,
        N_("the partner's own reference of the account (up to 64 characters), unique per partner"),
        required=True,
    ),
    FileColumn(
        "product_type",
        ColumnKind.CHOICE,
        N_("the kind of credit"),
        required=True,
        choices=tuple(p.value for p in ProductType),
    ),
    FileColumn(
        "currency", ColumnKind.TEXT, N_("ISO 4217 code: the partner's currency"), required=True
    ),
    FileColumn("original_amount", _AMOUNT, N_("the amount first lent or billed (default: total)")),
    FileColumn("principal", _AMOUNT, N_("principal owed"), required=True),
    FileColumn("interest", _AMOUNT, N_("interest owed"), required=True),
    FileColumn("fees", _AMOUNT, N_("fees and charges owed"), required=True),
    FileColumn(
        "total", _AMOUNT, N_("the balance owed: principal + interest + fees"), required=True
    ),
    FileColumn("past_due_amount", _AMOUNT, N_("the part of the total past due (default: 0)")),
    FileColumn(
        "oldest_unpaid_due_date",
        ColumnKind.DATE,
        N_("due date of the oldest unpaid installment (days past due count from it)"),
    ),
    FileColumn("last_payment_date", ColumnKind.DATE, N_("date of the debtor's last payment")),
    FileColumn(
        "last_payment_amount",
        _AMOUNT,
        N_("amount of the debtor's last payment (given with its date)"),
    ),
)
_DEBTOR_FILE_COLUMNS: tuple[FileColumn, ...] = (
    FileColumn("debtor_first_names", ColumnKind.TEXT, N_("the debtor's first names"), True),
    FileColumn("debtor_last_names", ColumnKind.TEXT, N_("the debtor's last names"), True),
    FileColumn(
        "debtor_national_id_type",
        ColumnKind.CHOICE,
        N_("the kind of national id, of the partner's country"),
        required=True,
        choices=tuple(t.value for t in NationalIdType),
    ),
    FileColumn(
        "debtor_national_id",
        ColumnKind.TEXT,
        N_("the debtor's national id, checked with its check digits"),
        required=True,
    ),
    FileColumn("debtor_birth_date", ColumnKind.DATE, N_("the debtor's date of birth")),
    FileColumn(
        "debtor_phones",
        ColumnKind.LIST,
        N_("the debtor's phones (at most {limit}), read for the partner's country"),
        params={"limit": MAX_CONTACTS},
    ),
    FileColumn(
        "debtor_emails",
        ColumnKind.LIST,
        N_("the debtor's email addresses (at most {limit})"),
        params={"limit": MAX_CONTACTS},
    ),
    FileColumn(
        "debtor_consents",
        ColumnKind.LIST,
        N_("channels the debtor authorised, as channel=reference of the partner's record"),
    ),
)
_ADDRESS_PARTS = ("line", "state", "municipality", "postal_code", "latitude", "longitude")
_ADDRESS_MEANINGS: dict[str, tuple[ColumnKind, str]] = {
    "line": (ColumnKind.TEXT, N_("{whose} address: street, number and neighbourhood")),
    "state": (ColumnKind.TEXT, N_("{whose} address: state")),
    "municipality": (ColumnKind.TEXT, N_("{whose} address: municipality")),
    "postal_code": (ColumnKind.TEXT, N_("{whose} address: postal code (five digits in Mexico)")),
    "latitude": (ColumnKind.DECIMAL, N_("{whose} address: latitude (with the longitude)")),
    "longitude": (ColumnKind.DECIMAL, N_("{whose} address: longitude (with the latitude)")),
}
_DEBTORS = N_("the debtor's")
_GUARANTORS = N_("guarantor {n}'s")


def _address_columns(prefix: str, parts: Sequence[str], whose: Message) -> list[FileColumn]:
    return [
        FileColumn(
            f"{prefix}address_{part}",
            _ADDRESS_MEANINGS[part][0],
            _ADDRESS_MEANINGS[part][1],
            params={"whose": whose},
        )
        for part in parts
    ]


_REFERENCE_FILE_COLUMNS: tuple[FileColumn, ...] = tuple(
    column
    for n in range(1, MAX_REFERENCES + 1)
    for column in (
        FileColumn(
            f"reference{n}_name", ColumnKind.TEXT, N_("personal reference {n}: full name"),
            params={"n": n},
        ),
        FileColumn(
            f"reference{n}_relationship", ColumnKind.TEXT,
            N_("personal reference {n}: relationship to the debtor"), params={"n": n},
        ),
        FileColumn(
            f"reference{n}_phones", ColumnKind.LIST, N_("personal reference {n}: phones"),
            params={"n": n},
        ),
    )
)  # fmt: skip
_GUARANTOR_FILE_COLUMNS: tuple[FileColumn, ...] = tuple(
    column
    for n in range(1, MAX_GUARANTORS + 1)
    for column in (
        FileColumn(f"guarantor{n}_name", ColumnKind.TEXT, N_("guarantor {n}: full name"),
                   params={"n": n}),
        FileColumn(f"guarantor{n}_national_id_type", ColumnKind.CHOICE,
                   N_("guarantor {n}: kind of national id (with the number)"),
                   choices=tuple(t.value for t in NationalIdType), params={"n": n}),
        FileColumn(f"guarantor{n}_national_id", ColumnKind.TEXT,
                   N_("guarantor {n}: national id (with its kind)"), params={"n": n}),
        FileColumn(f"guarantor{n}_phones", ColumnKind.LIST, N_("guarantor {n}: phones"),
                   params={"n": n}),
        *_address_columns(
            f"guarantor{n}_", _ADDRESS_PARTS[:4], Message(_GUARANTORS, {"n": n})
        ),
    )
)  # fmt: skip
FILE_COLUMNS: tuple[FileColumn, ...] = (
    *_ACCOUNT_FILE_COLUMNS,
    *_DEBTOR_FILE_COLUMNS,
    *_address_columns("", _ADDRESS_PARTS, Message(_DEBTORS)),
    *_REFERENCE_FILE_COLUMNS,
    *_GUARANTOR_FILE_COLUMNS,
)
CSV_COLUMNS: tuple[str, ...] = column_names(FILE_COLUMNS)
REQUIRED_COLUMNS: frozenset[str] = required_names(FILE_COLUMNS)
AMOUNT_COLUMNS: frozenset[str] = amount_names(FILE_COLUMNS)
_ACCOUNT_COLUMNS = column_names(_ACCOUNT_FILE_COLUMNS)
_GUARANTOR_COLUMNS = column_names(_GUARANTOR_FILE_COLUMNS)


def check_header(
    header: Sequence[str],
    columns: Sequence[str] = CSV_COLUMNS,
    required: frozenset[str] = REQUIRED_COLUMNS,
) -> list[RowError]:
    """Problems with a CSV or Excel header row: unknown, repeated or missing columns."""
    errors: list[RowError] = []
    seen: set[str] = set()
    for index, name in enumerate(header):
        if name not in columns:
            errors.append(
                RowError(
                    f"column {index + 1}",
                    Message(N_("unknown column '{name}'"), {"name": name[:80]}),
                )
            )
        elif name in seen:
            errors.append(
                RowError(
                    f"column {index + 1}",
                    Message(N_("column '{name}' appears twice"), {"name": name}),
                )
            )
        seen.add(name)
    for name in sorted(required - seen):
        errors.append(RowError(name, Message(N_("required column is missing"))))
    return errors


def _split(cell: str | None) -> list[str]:
    if not cell:
        return []
    return [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]


def _consents(cell: str | None) -> list[Any]:
    """``call=REF-1|whatsapp=REF-2``: each a channel granted with the partner's reference
    (an entry without ``=`` is passed on as it is, and refused by the row's rules)."""
    found: list[Any] = []
    for part in _split(cell):
        channel, sep, reference = part.partition("=")
        found.append(
            {"channel": channel.strip(), "partner_reference": reference.strip() or None}
            if sep
            else part
        )
    return found


def _address(cells: Mapping[str, str | None], prefix: str) -> list[dict[str, Any]]:
    parts = {part: cells.get(f"{prefix}{part}") for part in _ADDRESS_PARTS}
    if not any(parts.values()):
        return []
    return [parts]


def nest_flat_row(cells: Mapping[str, str | None]) -> dict[str, Any]:
    """A CSV or Excel row (column → text) in the nested shape JSON rows have."""
    row: dict[str, Any] = {name: cells.get(name) for name in _ACCOUNT_COLUMNS}
    row["debtor"] = {
        "first_names": cells.get("debtor_first_names"),
        "last_names": cells.get("debtor_last_names"),
        "national_id_type": cells.get("debtor_national_id_type"),
        "national_id": cells.get("debtor_national_id"),
        "birth_date": cells.get("debtor_birth_date"),
        "phones": _split(cells.get("debtor_phones")),
        "emails": _split(cells.get("debtor_emails")),
        "addresses": _address(cells, "address_"),
        "consents": _consents(cells.get("debtor_consents")),
    }
    row["references"] = [
        {
            "full_name": cells.get(f"reference{n}_name"),
            "relationship": cells.get(f"reference{n}_relationship"),
            "phones": _split(cells.get(f"reference{n}_phones")),
        }
        for n in range(1, MAX_REFERENCES + 1)
        if cells.get(f"reference{n}_name") or cells.get(f"reference{n}_phones")
    ]
    row["guarantors"] = [
        {
            "full_name": cells.get(f"guarantor{n}_name"),
            "national_id_type": cells.get(f"guarantor{n}_national_id_type"),
            "national_id": cells.get(f"guarantor{n}_national_id"),
            "phones": _split(cells.get(f"guarantor{n}_phones")),
            "addresses": _address(cells, f"guarantor{n}_address_"),
        }
        for n in range(1, MAX_GUARANTORS + 1)
        if any(cells.get(name) for name in _GUARANTOR_COLUMNS if name.startswith(f"guarantor{n}_"))
    ]
    return row


# ---------------------------------------------------------------------------------------
# Field rules


class FieldReader:
    """Reads a row's fields, collecting every error on the way (assignment rows here, payment
    file lines in app/domain/payment_files.py)."""

    __slots__ = ("country", "errors")

    def __init__(self, country: Country) -> None:
        self.errors: list[RowError] = []
        # National ids are the partner's country's kinds (RFC and CURP for Mexico, …).
        self.country = country

    def fail(self, field: str, message: Text, params: Mapping[str, Any] | None = None) -> None:
        """``message``: English marked N_ (a template over ``params``), or a Message."""
        text = message if isinstance(message, Message) else Message(message, params or {})
        self.errors.append(RowError(field, text))

    def text(self, value: Any, field: str, *, max_length: int, required: bool = True) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(field, N_("is required"))
            return None
        if not isinstance(value, str):
            if isinstance(value, int | Decimal) and not isinstance(value, bool):
                value = str(value)
            else:
                self.fail(field, N_("must be text"))
                return None
        value = value.strip()
        if len(value) > max_length:
            self.fail(
                field, N_("must be at most {max_length} characters"), {"max_length": max_length}
            )
            return None
        if _CONTROL.search(value):
            self.fail(field, N_("must not contain control characters"))
            return None
        return value

    def amount(
        self, value: Any, field: str, *, currency: str, required: bool = True
    ) -> Decimal | None:
        """An amount in ``currency``: text read by :func:`~app.domain.money.parse_money`, or
        a JSON number (an integer, or a decimal the JSON reader kept exact as ``Decimal``)
        read through its text, so "1e3" is refused whichever way it came; never a binary
        float. At most the currency's decimals; kept with two places, as stored. A
        :class:`~app.domain.money.DecimalCommaText` (a cell of a CSV separated by
        semicolons) is read with a decimal comma."""
        if value is None or value == "":
            if required:
                self.fail(field, N_("is required"))
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            self.fail(field, FORMAT_MESSAGE)
            return None
        try:
            amount = parse_money(
                value.strip() if isinstance(value, str) else str(value),
                decimal_comma=isinstance(value, DecimalCommaText),
            )
        except MoneyFormatError as exc:
            self.fail(field, exc.text)
            return None
        if not fits_minor_unit(amount, currency):
            self.fail(field, too_many_decimals(currency))
            return None
        return amount.quantize(CENT)

    def day(self, value: Any, field: str, today: date, *, required: bool = False) -> date | None:
        if value is None or value == "":
            if required:
                self.fail(field, N_("is required"))
            return None
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            self.fail(field, N_("must be a date as YYYY-MM-DD"))
            return None
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            self.fail(field, N_("must be a date as YYYY-MM-DD"))
            return None
        if parsed > today:
            self.fail(field, N_("must not be in the future"))
            return None
        if parsed < EARLIEST_DATE:
            self.fail(field, N_("must not be before 1900-01-01"))
            return None
        return parsed

    def items(self, value: Any, field: str, limit: int) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(field, N_("must be a list"))
            return []
        if len(value) > limit:
            self.fail(field, N_("must have at most {limit} entries"), {"limit": limit})
            return []
        return value

    def national_id(
        self, id_type: Any, number: Any, field: str, *, required: bool
    ) -> tuple[str, str] | None:
        type_text = self.text(id_type, f"{field}national_id_type", max_length=8, required=required)
        number_text = self.text(number, f"{field}national_id", max_length=40, required=required)
        if type_text is None or number_text is None:
            if not required and (type_text is None) != (number_text is None):
                self.fail(f"{field}national_id", N_("give both the id type and the number"))
            return None
        allowed = [t for t in NationalIdType if ID_COUNTRY[t] is self.country]
        try:
            kind = NationalIdType(type_text.upper())
        except ValueError:
            kind = None
        if kind not in allowed:
            names = ", ".join(t.value for t in allowed)
            self.fail(
                f"{field}national_id_type",
                N_("must be one of {names} for {country}"),
                {"names": names, "country": self.country.value},
            )
            return None
        assert kind is not None
        try:
            return kind.value, normalise_national_id(kind, number_text)
        except InvalidId as exc:
            self.fail(f"{field}national_id", exc.text)
            return None

    def phones(self, value: Any, field: str, country: Country) -> list[ContactIn]:
        found: list[ContactIn] = []
        for index, raw in enumerate(self.items(value, field, MAX_CONTACTS)):
            text = self.text(raw, f"{field}[{index}]", max_length=40)
            if text is None:
                continue
            try:
                e164 = normalise_phone(text, country)
            except InvalidId as exc:
                self.fail(f"{field}[{index}]", exc.text)
                continue
            found.append(ContactIn("phone", e164, time_zone=time_zone_for_phone(e164)))
        return found

    def emails(self, value: Any, field: str) -> list[ContactIn]:
        found: list[ContactIn] = []
        for index, raw in enumerate(self.items(value, field, MAX_CONTACTS)):
            text = self.text(raw, f"{field}[{index}]", max_length=254)
            if text is None:
                continue
            if not _EMAIL.match(text):
                self.fail(f"{field}[{index}]", N_("not an email address"))
                continue
            found.append(ContactIn("email", text.lower()))
        return found

    def coordinate(self, value: Any, field: str, bound: int) -> Decimal | None:
        if value is None or value == "":
            return None
        number = self.amount_signed(value, field)
        if number is None:
            return None
        if not -bound <= number <= bound:
            self.fail(field, N_("must be between -{bound} and {bound}"), {"bound": bound})
            return None
        return number.quantize(Decimal("0.000001"))

    def amount_signed(self, value: Any, field: str) -> Decimal | None:
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, TypeError, ValueError):
            self.fail(field, N_("must be a decimal number"))
            return None
        if not number.is_finite():
            self.fail(field, N_("must be a decimal number"))
            return None
        return number

    def consents(self, value: Any, field: str, today: date) -> list[ConsentIn]:
        found: list[ConsentIn] = []
        seen: set[str] = set()
        for index, raw in enumerate(self.items(value, field, len(CONSENT_CHANNELS))):
            at = f"{field}[{index}]"
            if not isinstance(raw, Mapping):
                self.fail(at, N_("must be an object with channel and partner_reference"))
                continue
            channel = self.text(raw.get("channel"), f"{at}.channel", max_length=16)
            status = self.text(raw.get("status"), f"{at}.status", max_length=16, required=False)
            status = status or "granted"
            reference = self.text(
                raw.get("partner_reference"),
                f"{at}.partner_reference",
                max_length=120,
                required=status == "granted",
            )
            given_on = self.day(raw.get("given_on"), f"{at}.given_on", today)
            if channel is not None and channel not in CONSENT_CHANNELS:
                self.fail(
                    f"{at}.channel",
                    N_("must be one of {channels}"),
                    {"channels": ", ".join(CONSENT_CHANNELS)},
                )
                continue
            if status not in ("granted", "opted_out"):
                self.fail(f"{at}.status", N_("must be granted or opted_out"))
                continue
            if channel is None or (status == "granted" and reference is None):
                continue
            if channel in seen:
                self.fail(f"{at}.channel", N_("each channel once"))
                continue
            seen.add(channel)
            found.append(ConsentIn(channel, status, reference, given_on))
        return found

    def addresses(self, value: Any, field: str, country: Country) -> list[ContactIn]:
        found: list[ContactIn] = []
        for index, raw in enumerate(self.items(value, field, MAX_CONTACTS)):
            at = f"{field}[{index}]"
            if not isinstance(raw, Mapping):
                self.fail(at, N_("must be an object"))
                continue
            line = self.text(raw.get("line"), f"{at}.line", max_length=300)
            state = self.text(raw.get("state"), f"{at}.state", max_length=60, required=False)
            municipality = self.text(
                raw.get("municipality"), f"{at}.municipality", max_length=120, required=False
            )
            postal = self.text(
                raw.get("postal_code"), f"{at}.postal_code", max_length=10, required=False
            )
            if postal is not None and country is Country.MX and not _MX_POSTAL_CODE.match(postal):
                self.fail(f"{at}.postal_code", N_("a Mexican postal code has five digits"))
            latitude = self.coordinate(raw.get("latitude"), f"{at}.latitude", 90)
            longitude = self.coordinate(raw.get("longitude"), f"{at}.longitude", 180)
            if _given(raw.get("latitude")) != _given(raw.get("longitude")):
                self.fail(f"{at}.latitude", N_("give both latitude and longitude, or neither"))
            if line is None:
                continue
            found.append(
                ContactIn(
                    "address",
                    line,
                    state=state,
                    municipality=municipality,
                    postal_code=postal,
                    latitude=latitude,
                    longitude=longitude,
                    time_zone=time_zone_for(country.value, state),
                )
            )
        return found


def storable(text: str, max_length: int) -> str:
    """Text from a rejected row made safe to store and show: no NUL, control characters or
    lone surrogates (replaced), at most ``max_length`` characters."""
    return _CONTROL.sub("\ufffd", text[:max_length])


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds what no stored text may: control characters, lone surrogates
    or invisible format characters (zero-width, bidirectional overrides, BOM)."""
    return _CONTROL.search(text) is not None


def _given(value: Any) -> bool:
    return value is not None and value != ""


def fingerprint(parts: Sequence[Any], key: bytes) -> str:
    """HMAC-SHA256 of the row's parts: says whether a refreshed account changed, and
    nothing about its content to someone without the key."""
    payload = json.dumps(parts, default=str, separators=(",", ":")).encode()
    return hmac.new(key, b"account-content\x00" + payload, hashlib.sha256).hexdigest()


def validate_row(row_number: int, raw: Any, context: IntakeContext) -> AccountRow | list[RowError]:
    """The row as an account to merge, or every reason it cannot be accepted."""
    if not isinstance(raw, Mapping):
        return [RowError("row", Message(N_("must be an object")))]
    check = FieldReader(context.country)
    today = context.today
    external_ref = check.text(raw.get("external_ref"), "external_ref", max_length=64)
    product_text = check.text(raw.get("product_type"), "product_type", max_length=16)
    product: ProductType | None = None
    if product_text is not None:
        try:
            product = ProductType(product_text.lower())
        except ValueError:
            allowed = ", ".join(p.value for p in ProductType)
            check.fail("product_type", N_("must be one of {allowed}"), {"allowed": allowed})
    currency = check.text(raw.get("currency"), "currency", max_length=3)
    if currency is not None and currency.upper() != context.currency:
        check.fail(
            "currency",
            N_("must be the partner's currency, {currency}"),
            {"currency": context.currency},
        )
    # Amounts are held to the partner's currency (a row in another one is refused above).
    money = context.currency
    principal = check.amount(raw.get("principal"), "principal", currency=money)
    interest = check.amount(raw.get("interest"), "interest", currency=money)
    fees = check.amount(raw.get("fees"), "fees", currency=money)
    total = check.amount(raw.get("total"), "total", currency=money)
    original = check.amount(
        raw.get("original_amount"), "original_amount", currency=money, required=False
    )
    past_due = check.amount(
        raw.get("past_due_amount"), "past_due_amount", currency=money, required=False
    )
    if None not in (principal, interest, fees, total):
        assert principal is not None and interest is not None and fees is not None
        if total != principal + interest + fees:
            check.fail("total", N_("must equal principal + interest + fees"))
    if past_due is not None and total is not None and past_due > total:
        check.fail("past_due_amount", N_("must not exceed the total"))
    oldest_due = check.day(raw.get("oldest_unpaid_due_date"), "oldest_unpaid_due_date", today)
    last_paid_on = check.day(raw.get("last_payment_date"), "last_payment_date", today)
    last_paid = check.amount(
        raw.get("last_payment_amount"), "last_payment_amount", currency=money, required=False
    )
    if _given(raw.get("last_payment_date")) != _given(raw.get("last_payment_amount")):
        check.fail("last_payment_amount", N_("give the last payment's date and amount together"))

    debtor = raw.get("debtor")
    if not isinstance(debtor, Mapping):
        check.fail("debtor", N_("is required"))
        debtor = {}
    first_names = check.text(debtor.get("first_names"), "debtor.first_names", max_length=120)
    last_names = check.text(debtor.get("last_names"), "debtor.last_names", max_length=120)
    identity = check.national_id(
        debtor.get("national_id_type"), debtor.get("national_id"), "debtor.", required=True
    )
    birth_date = check.day(debtor.get("birth_date"), "debtor.birth_date", today)
    contacts = [
        *check.phones(debtor.get("phones"), "debtor.phones", context.country),
        *check.emails(debtor.get("emails"), "debtor.emails"),
        *check.addresses(debtor.get("addresses"), "debtor.addresses", context.country),
    ]
    consents = check.consents(debtor.get("consents"), "debtor.consents", today)

    parties: list[PartyIn] = []
    for index, ref in enumerate(check.items(raw.get("references"), "references", MAX_REFERENCES)):
        at = f"references[{index}]"
        if not isinstance(ref, Mapping):
            check.fail(at, N_("must be an object"))
            continue
        name = check.text(ref.get("full_name"), f"{at}.full_name", max_length=200)
        relationship = check.text(
            ref.get("relationship"), f"{at}.relationship", max_length=60, required=False
        )
        phones = check.phones(ref.get("phones"), f"{at}.phones", context.country)
        if name is not None:
            parties.append(PartyIn("reference", name, relationship, None, None, tuple(phones)))
    for index, guarantor in enumerate(
        check.items(raw.get("guarantors"), "guarantors", MAX_GUARANTORS)
    ):
        at = f"guarantors[{index}]"
        if not isinstance(guarantor, Mapping):
            check.fail(at, N_("must be an object"))
            continue
        name = check.text(guarantor.get("full_name"), f"{at}.full_name", max_length=200)
        guarantor_id = check.national_id(
            guarantor.get("national_id_type"),
            guarantor.get("national_id"),
            f"{at}.",
            required=False,
        )
        reach = [
            *check.phones(guarantor.get("phones"), f"{at}.phones", context.country),
            *check.addresses(guarantor.get("addresses"), f"{at}.addresses", context.country),
        ]
        if name is not None:
            id_type, id_number = guarantor_id or (None, None)
            parties.append(PartyIn("guarantor", name, None, id_type, id_number, tuple(reach)))

    if check.errors:
        return check.errors
    assert external_ref is not None and product is not None and currency is not None
    assert principal is not None and interest is not None and fees is not None
    assert total is not None and identity is not None
    assert first_names is not None and last_names is not None
    values = (
        external_ref,
        product.value,
        currency.upper(),
        original if original is not None else total,
        principal,
        interest,
        fees,
        total,
        past_due if past_due is not None else Decimal("0.00"),
        oldest_due,
        last_paid_on,
        last_paid,
        *identity,
        first_names,
        last_names,
        birth_date,
    )
    parts: list[Any] = [*values, [_contact_parts(c) for c in contacts], _party_parts(parties)]
    if consents:  # rows without consents keep the fingerprint they always had
        parts.append([[c.channel, c.status, c.partner_reference, c.given_on] for c in consents])
    digest = fingerprint(parts, context.fingerprint_key)
    return AccountRow(
        row_number,
        external_ref,
        product,
        currency.upper(),
        values[3],
        principal,
        interest,
        fees,
        total,
        values[8],
        oldest_due,
        last_paid_on,
        last_paid,
        identity[0],
        identity[1],
        first_names,
        last_names,
        birth_date,
        tuple(contacts),
        tuple(parties),
        digest,
        tuple(consents),
    )


def _contact_parts(contact: ContactIn) -> list[Any]:
    return [
        contact.kind,
        contact.value,
        contact.state,
        contact.municipality,
        contact.postal_code,
        contact.latitude,
        contact.longitude,
    ]


def _party_parts(parties: Sequence[PartyIn]) -> list[Any]:
    return [
        [
            p.kind,
            p.full_name,
            p.relationship,
            p.national_id,
            [_contact_parts(c) for c in p.contacts],
        ]
        for p in parties
    ]


# ---------------------------------------------------------------------------------------
# Example rows (the templates a partner downloads, app/services/file_kit.py)

# Fake people: ids from public test data and phones from libphonenumber's example numbers,
# each valid in its country.
_EXAMPLE_PEOPLE: dict[Country, tuple[NationalIdType, str, str, str]] = {
    # (id type, id, phone, postal code)
    Country.MX: (NationalIdType.CURP, "BOXW310820HNERXN09", "222 123 4567", "06000"),
    Country.CO: (NationalIdType.CC, "1000000001", "321 1234567", "110111"),
    Country.PE: (NationalIdType.DNI, "10000001", "912 345 678", "15001"),
    Country.CL: (NationalIdType.RUT, "11.111.111-1", "(2) 2123 4567", "8320000"),
    Country.BR: (NationalIdType.CPF, "111.444.777-35", "(11) 96123-4567", "01001-000"),
    Country.US: (NationalIdType.SSN, "123-45-6789", "(201) 555-0123", "10001"),
}
EXAMPLE_DATES = ("2025-09-15", "2025-10-31", "1985-04-12")


def example_rows(country: Country, currency: str) -> list[dict[str, str]]:
    """Two rows :func:`validate_row` accepts for a partner of ``country`` and ``currency``,
    with clearly made-up data: one with only the required columns and one with most of the
    optional ones (column → cell text, the amounts with the currency's decimals)."""
    id_type, national_id, phone, postal_code = _EXAMPLE_PEOPLE[country]

    def amount(units: int) -> str:
        return str(from_minor(units * 10 ** minor_unit_of(currency), currency))

    debtor = {
        "debtor_first_names": "Juan",
        "debtor_last_names": "Ejemplo Prueba",
        "debtor_national_id_type": id_type.value,
        "debtor_national_id": national_id,
    }
    first = {
        "external_ref": "EXAMPLE-0001",
        "product_type": ProductType.REVOLVING.value,
        "currency": currency,
        "principal": amount(1000),
        "interest": str(from_minor(12050, currency)),
        "fees": amount(0),
        **debtor,
    }
    first["total"] = str(sum(Decimal(first[c]) for c in ("principal", "interest", "fees")))
    second = {
        "external_ref": "EXAMPLE-0002",
        "product_type": ProductType.INSTALLMENT.value,
        "currency": currency,
        "original_amount": amount(5000),
        "principal": amount(3000),
        "interest": amount(250),
        "fees": amount(50),
        "total": amount(3300),
        "past_due_amount": amount(900),
        "oldest_unpaid_due_date": EXAMPLE_DATES[0],
        "last_payment_date": EXAMPLE_DATES[1],
        "last_payment_amount": amount(300),
        **debtor,
        "debtor_birth_date": EXAMPLE_DATES[2],
        "debtor_phones": phone,
        "debtor_emails": "juan.ejemplo@example.com",
        "debtor_consents": "sms=EXAMPLE-CONSENT-1",
        "address_line": "Calle Ejemplo 123",
        "address_postal_code": postal_code,
        "reference1_name": "María Ejemplo",
        "reference1_relationship": "hermana",
        "reference1_phones": phone,
    }
    return [first, second]
