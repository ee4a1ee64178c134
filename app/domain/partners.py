"""Partner companies: the rules of their registration data, beyond the ids in ``identity``.

Pure functions over values: a company tax id (with the RFC check digit enforced), the
currency of their portfolio (ISO 4217), their time zone (IANA) and the defaults per country,
and the public id of a partner's system client.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from zoneinfo import available_timezones

from stdnum.exceptions import ValidationError
from stdnum.mx import rfc

from app.domain.errors import InvalidInput, InvalidValue
from app.domain.identity import (
    COUNTRY_CURRENCY,
    Country,
    InvalidId,
    normalise_phone,
    normalise_tax_id,
)
from app.i18n import N_

# Active ISO 4217 codes that money can be held in (2025): national currencies and the
# indexed units loans are written in (CLF Unidad de Fomento, MXV UDI, COU UVR, UYI, UYW,
# BOV), not precious metals, SDRs, bond-market units or the test codes (XAU, XDR, XTS, XXX…).
ISO_4217: frozenset[str] = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE",
    "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
    "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR",
    "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK",
    "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO",
    "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON",
    "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD",
    "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD",
    "TZS", "UAH", "UGX", "USD", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV",
    "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
})  # fmt: skip

# Where a partner's business day is when the request names no zone: the capital's.
COUNTRY_TIME_ZONE: dict[Country, str] = {
    Country.MX: "America/Mexico_City",
    Country.CO: "America/Bogota",
    Country.PE: "America/Lima",
    Country.CL: "America/Santiago",
    Country.BR: "America/Sao_Paulo",
    Country.US: "America/New_York",
}

# A registered RFC with its homoclave: 12 characters for a company, 13 for a person in
# business (a partner may be either); the 10-character stem alone is not a registration.
_RFC_LENGTHS = (12, 13)
CLIENT_ID_MAX = 64
_SLUG_MAX = 40


def check_currency(code: str) -> str:
    """An active ISO 4217 code (upper case); ValueError otherwise."""
    if code not in ISO_4217:
        raise InvalidValue(N_("not an active ISO 4217 currency code"))
    return code


@cache
def _time_zones() -> frozenset[str]:
    # The IANA database shipped with the system: static reference data, read once.
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    """An IANA time zone name (``America/Mexico_City``); ValueError otherwise."""
    if name not in _time_zones():
        raise InvalidValue(N_("not an IANA time zone name"))
    return name


def default_currency(country: Country) -> str:
    return COUNTRY_CURRENCY[country]


def default_time_zone(country: Country) -> str:
    return COUNTRY_TIME_ZONE[country]


def partner_tax_id(country: Country, value: str, field: str) -> str:
    """The partner's normalised tax id for its country, or InvalidInput on ``field``.

    A Mexican RFC must be complete (homoclave included) and carry the right check digit: the
    SAT issues every registration with it, so a wrong one is a typo. (The general id check
    does not insist, as debtors' RFCs often arrive without their homoclave.)
    """
    try:
        tax_id = normalise_tax_id(country, value)
    except InvalidId as exc:
        raise InvalidInput(field, exc.text) from exc
    if country is Country.MX:
        if len(tax_id) not in _RFC_LENGTHS:
            raise InvalidInput(
                field, N_("not a valid RFC: the homoclave and check digit are missing")
            )
        try:
            rfc.validate(tax_id, validate_check_digits=True)
        except ValidationError as exc:
            raise InvalidInput(field, N_("not a valid RFC: its check digit is wrong")) from exc
    return tax_id


def partner_phone(country: Country, value: str, field: str) -> str:
    """The contact phone in E.164, read in the partner's country's conventions."""
    try:
        return normalise_phone(value, country)
    except InvalidId as exc:
        raise InvalidInput(field, exc.text) from exc


def slug(text: str, max_length: int = _SLUG_MAX) -> str:
    """Lower-case ASCII words joined by hyphens, at most ``max_length`` characters:
    ``Almacenes Demo S.A.S.`` → ``almacenes-demo-s-a-s``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    result = ""
    for word in words:
        candidate = f"{result}-{word}" if result else word[:max_length]
        if len(candidate) > max_length:
            break
        result = candidate
    return result or "partner"


def client_id_for(legal_name: str, suffix: str) -> str:
    """A partner system's public client id: its company's slug and a random ``suffix``."""
    return f"{slug(legal_name)}-{suffix}"[:CLIENT_ID_MAX]


# --- where debtors pay ----------------------------------------------------------------------

CLABE_LENGTH = 18
# The CLABE's check digit weighs the first seventeen digits 3, 7, 1, 3, 7, 1 …
_CLABE_WEIGHTS = (3, 7, 1) * 6


def clabe_check_digit(first17: str) -> int:
    """The 18th digit of a CLABE (Banco de México): each digit times its weight, modulo
    10, summed; ten minus the sum's last digit, modulo 10."""
    total = sum(int(d) * w % 10 for d, w in zip(first17, _CLABE_WEIGHTS, strict=False))
    return (10 - total % 10) % 10


def check_clabe(value: str) -> str:
    """A CLABE (18 digits: bank, plaza, account, check digit); blanks are ignored. Raises
    ValueError saying what is wrong."""
    compact = "".join(value.split())
    if len(compact) != CLABE_LENGTH or not (compact.isascii() and compact.isdigit()):
        raise ValueError(f"a CLABE has {CLABE_LENGTH} digits")
    if clabe_check_digit(compact[:17]) != int(compact[17]):
        raise ValueError("not a CLABE: its check digit does not match")
    return compact
