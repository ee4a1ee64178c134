"""National ids, tax ids and phone numbers, validated per country.

python-stdnum checks each id's format and check digits; phonenumbers parses phones to E.164
for the partner's country. Each function returns the normalised value or raises
:class:`InvalidId` (a ValueError) with a message fit to show to whoever sent the data, in
their language (``text``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import ModuleType
from typing import Any

import phonenumbers
from stdnum.br import cnpj, cpf
from stdnum.cl import rut
from stdnum.co import nit
from stdnum.exceptions import ValidationError
from stdnum.mx import curp, rfc
from stdnum.pe import ruc
from stdnum.us import ein, ssn

from app.domain.errors import InvalidValue
from app.domain.text import fold
from app.i18n import N_, Message


class Country(StrEnum):
    MX = "MX"
    CO = "CO"
    PE = "PE"
    CL = "CL"
    BR = "BR"
    US = "US"


class NationalIdType(StrEnum):
    RFC = "RFC"  # MX, Registro Federal de Contribuyentes (people and companies)
    CURP = "CURP"  # MX, Clave Única de Registro de Población
    CC = "CC"  # CO, cédula de ciudadanía
    NIT = "NIT"  # CO, tax id
    DNI = "DNI"  # PE, documento nacional de identidad
    RUC = "RUC"  # PE, tax id
    RUT = "RUT"  # CL, rol único tributario (people and companies)
    CPF = "CPF"  # BR, people
    CNPJ = "CNPJ"  # BR, companies
    SSN = "SSN"  # US, people
    EIN = "EIN"  # US, companies


ID_COUNTRY: dict[NationalIdType, Country] = {
    NationalIdType.RFC: Country.MX,
    NationalIdType.CURP: Country.MX,
    NationalIdType.CC: Country.CO,
    NationalIdType.NIT: Country.CO,
    NationalIdType.DNI: Country.PE,
    NationalIdType.RUC: Country.PE,
    NationalIdType.RUT: Country.CL,
    NationalIdType.CPF: Country.BR,
    NationalIdType.CNPJ: Country.BR,
    NationalIdType.SSN: Country.US,
    NationalIdType.EIN: Country.US,
}

# The id a company is registered under in each country, for partners.
COMPANY_TAX_ID: dict[Country, NationalIdType] = {
    Country.MX: NationalIdType.RFC,
    Country.CO: NationalIdType.NIT,
    Country.PE: NationalIdType.RUC,
    Country.CL: NationalIdType.RUT,
    Country.BR: NationalIdType.CNPJ,
    Country.US: NationalIdType.EIN,
}

COUNTRY_CURRENCY: dict[Country, str] = {
    Country.MX: "MXN",
    Country.CO: "COP",
    Country.PE: "PEN",
    Country.CL: "CLP",
    Country.BR: "BRL",
    Country.US: "USD",
}


class InvalidId(InvalidValue):
    """An id or phone number that is not valid; ``text`` says why (``str()`` in English)."""


def _digits(length_from: int, length_to: int, name: str) -> Callable[[str], str]:
    """Ids without a check digit (Colombian cédula, Peruvian DNI): digits of a set length."""

    def check(value: str) -> str:
        compact = value.replace(".", "").replace("-", "").replace(" ", "")
        if not compact.isascii() or not compact.isdigit():
            raise InvalidId(Message(N_("a {name} has digits only"), {"name": name}))
        if not length_from <= len(compact) <= length_to:
            raise InvalidId(
                Message(
                    N_("a {name} has {length_from} to {length_to} digits"),
                    {"name": name, "length_from": length_from, "length_to": length_to},
                )
            )
        return compact

    return check


def _stdnum(module: ModuleType) -> Callable[[str], str]:
    def check(value: str) -> str:
        result: str = module.validate(value)
        return result

    return check


def _rfc(value: str) -> str:
    # stdnum checks an RFC's check digit only when asked; a full RFC must carry a right one.
    result: str = rfc.validate(value, validate_check_digits=True)
    return result


_VALIDATORS: dict[NationalIdType, Callable[[str], str]] = {
    NationalIdType.RFC: _rfc,
    NationalIdType.CURP: _stdnum(curp),
    NationalIdType.CC: _digits(6, 10, "cédula"),
    NationalIdType.NIT: _stdnum(nit),
    NationalIdType.DNI: _digits(8, 8, "DNI"),
    NationalIdType.RUC: _stdnum(ruc),
    NationalIdType.RUT: _stdnum(rut),
    NationalIdType.CPF: _stdnum(cpf),
    NationalIdType.CNPJ: _stdnum(cnpj),
    NationalIdType.SSN: _stdnum(ssn),
    NationalIdType.EIN: _stdnum(ein),
}

_STDNUM_MESSAGES = {
    "InvalidChecksum": N_("its check digit is wrong"),
    "InvalidFormat": N_("its format is wrong"),
    "InvalidLength": N_("its length is wrong"),
    "InvalidComponent": N_("it contains an impossible part (date or code)"),
}
_NOT_VALID_ID = N_("not a valid {id_type}: {reason}")


def normalise_national_id(id_type: NationalIdType, value: str) -> str:
    """The compact, upper-case id; InvalidId saying what is wrong with it."""
    if len(value) > 40:
        raise InvalidId(Message(N_("not a valid {id_type}: too long"), {"id_type": id_type.value}))
    try:
        return _VALIDATORS[id_type](value.strip().upper())
    except ValidationError as exc:
        reason = _STDNUM_MESSAGES.get(type(exc).__name__, N_("it is not valid"))
        raise InvalidId(
            Message(_NOT_VALID_ID, {"id_type": id_type.value, "reason": Message(reason)})
        ) from exc
    except InvalidId as exc:
        raise InvalidId(
            Message(_NOT_VALID_ID, {"id_type": id_type.value, "reason": exc.text})
        ) from exc
    except ValueError as exc:
        raise InvalidId(
            Message(
                _NOT_VALID_ID, {"id_type": id_type.value, "reason": Message(N_("it is not valid"))}
            )
        ) from exc


def normalise_tax_id(country: Country, value: str) -> str:
    """A company's tax id in its country (RFC in Mexico, NIT in Colombia, …)."""
    return normalise_national_id(COMPANY_TAX_ID[country], value)


# Phone types phonenumbers counts as valid, in the order it tests them.
_PHONE_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)
_PHONE_SEPARATORS = str.maketrans("", "", " -.()")

_Desc = tuple[frozenset[int], re.Pattern[str]]


@dataclass(frozen=True, slots=True)
class _PhoneRules:
    """phonenumbers' own metadata for a region, compiled once."""

    country_code: str
    national_prefix: re.Pattern[str] | None
    general: _Desc
    types: tuple[_Desc, ...]

    def valid(self, national_number: str) -> bool:
        return _matches(national_number, self.general) and any(
            _matches(national_number, desc) for desc in self.types
        )


def _matches(number: str, desc: _Desc) -> bool:
    lengths, pattern = desc
    return (not lengths or len(number) in lengths) and pattern.fullmatch(number) is not None


@functools.cache
def _phone_rules(country: Country) -> _PhoneRules | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(country.value)
    if metadata is None or metadata.general_desc is None:
        return None

    def desc(d: Any) -> _Desc | None:
        if d is None or d.national_number_pattern is None:
            return None
        return frozenset(d.possible_length or ()), re.compile(d.national_number_pattern)

    general = desc(metadata.general_desc)
    if general is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    return _PhoneRules(
        str(metadata.country_code),
        re.compile(prefix) if prefix else None,
        general,
        tuple(d for d in (desc(getattr(metadata, t)) for t in _PHONE_TYPES) if d is not None),
    )


def _fast_e164(value: str, country: Country) -> str | None:
    """The E.164 form of a plainly written valid number (digits and separators only, in
    national form or with +country code), straight from phonenumbers' metadata; None leaves
    the number to the full parser. Parsing a portfolio calls this for every phone, and the
    full parser costs several times more; a test holds both to the same answers."""
    rules = _phone_rules(country)
    if rules is None:
        return None
    compact = value.translate(_PHONE_SEPARATORS)
    if compact.startswith("+" + rules.country_code):
        national = compact[len(rules.country_code) + 1 :]
    elif compact[:1] == "+":
        return None
    else:
        national = compact
        if rules.national_prefix is not None and rules.national_prefix.match(national):
            return None
    if not (national.isascii() and national.isdigit()) or not rules.valid(national):
        return None
    return f"+{rules.country_code}{national}"


# Mexico's dialling before ten-digit dialling (IFT, 2019-2020): "044"/"045" before a mobile
# called locally or long-distance, "01" before a long-distance number, and a "1" between +52
# and a mobile called from abroad. Old records and many caller ids still carry them; each
# names the same ten-digit number, which no valid number today can be confused with (they
# are 11 to 13 digits where today's are 10).
_MX_LEGACY_INTERNATIONAL = re.compile(r"^(?:\+|00)521(\d{10})$")
_MX_LEGACY_NATIONAL = re.compile(r"^(?:044|045|01)(\d{10})$")


def _without_mx_legacy_prefix(value: str, country: Country) -> str:
    """``value`` with Mexico's retired dialling prefixes taken off (the number as dialled
    today, in national form or with +52); anything else unchanged."""
    compact = value.translate(_PHONE_SEPARATORS)
    found = _MX_LEGACY_INTERNATIONAL.match(compact)
    if found is not None:
        return f"+52{found.group(1)}"
    if country is Country.MX:
        found = _MX_LEGACY_NATIONAL.match(compact)
        if found is not None:
            return found.group(1)
    return value


def normalise_phone(value: str, country: Country) -> str:
    """The E.164 form of a phone written in the partner's country's conventions (Mexican
    numbers also as they were dialled before ten-digit dialling: +52 1…, 044, 045, 01)."""
    if len(value) > 40:
        raise InvalidId(Message(N_("not a phone number: too long")))
    value = _without_mx_legacy_prefix(value, country)
    fast = _fast_e164(value, country)
    if fast is not None:
        return fast
    return _parse_phone(value, country)


def _parse_phone(value: str, country: Country) -> str:
    """phonenumbers' full parser: any format it understands, and its verdict."""
    try:
        parsed = phonenumbers.parse(value, country.value)
    except phonenumbers.NumberParseException as exc:
        raise InvalidId(Message(N_("not a phone number"))) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidId(
            Message(N_("not a valid phone number for {country}"), {"country": country.value})
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(value: str, visible: int = 4) -> str:
    """``****5678``: how personal data leaves the API unless a reveal was asked for."""
    tail = value[-visible:] if len(value) > visible else ""
    return "****" + tail


def mask_name(value: str) -> str:
    """``J*** P***``: a person's name as listings and the audit trail show it, the initial
    of each word."""
    return " ".join(f"{word[:1].upper()}***" for word in value.split()) or "***"


def mask_birth_date(value: date) -> str:
    """``1980-**-**``: only the year of a birth date shows without a reveal."""
    return f"{value.year}-**-**"


def mask_contact(kind: str, value: str) -> str:
    """A contact value as shown without a reveal: ``****5678`` for a phone, ``j***@mail.com``
    for an email, the first letters of an address line."""
    if kind == "email" and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if kind == "address":
        return value[:3] + "***" if len(value) > 6 else "***"
    return mask(value)


def index_form(kind: str, value: str) -> str:
    """A contact value as its blind index sees it: addresses without case, accents or extra
    spaces (two spellings of one street are one address); phones and emails are already
    normalised (E.164, lower case)."""
    if kind != "address":
        return value
    return fold(value)
