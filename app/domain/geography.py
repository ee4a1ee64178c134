"""Where a contact point is, and so which IANA time zone its contact rules run in."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone as phone_zones
from phonenumbers.tzdata import TIMEZONE_DATA

from app.domain.text import fold

# Mexico's states by the zone most of their territory keeps (Diario Oficial, Ley del Sistema
# de Horario, 2022: no daylight saving outside the northern border strip). Border
# municipalities on US time (Ciudad Juárez, Ojinaga, Matamoros…) need the postal code and are
# left to the state's zone here.
_MX_STATE_ZONES: dict[str, str] = {
    "aguascalientes": "America/Mexico_City",
    "baja california": "America/Tijuana",
    "baja california sur": "America/Mazatlan",
    "campeche": "America/Merida",
    "chiapas": "America/Mexico_City",
    "chihuahua": "America/Chihuahua",
    "ciudad de mexico": "America/Mexico_City",
    "coahuila": "America/Monterrey",
    "colima": "America/Mexico_City",
    "durango": "America/Monterrey",
    "estado de mexico": "America/Mexico_City",
    "guanajuato": "America/Mexico_City",
    "guerrero": "America/Mexico_City",
    "hidalgo": "America/Mexico_City",
    "jalisco": "America/Mexico_City",
    "michoacan": "America/Mexico_City",
    "morelos": "America/Mexico_City",
    "nayarit": "America/Mazatlan",
    "nuevo leon": "America/Monterrey",
    "oaxaca": "America/Mexico_City",
    "puebla": "America/Mexico_City",
    "queretaro": "America/Mexico_City",
    "quintana roo": "America/Cancun",
    "san luis potosi": "America/Mexico_City",
    "sinaloa": "America/Mazatlan",
    "sonora": "America/Hermosillo",
    "tabasco": "America/Mexico_City",
    "tamaulipas": "America/Monterrey",
    "tlaxcala": "America/Mexico_City",
    "veracruz": "America/Mexico_City",
    "yucatan": "America/Merida",
    "zacatecas": "America/Mexico_City",
}

_MX_ALIASES: dict[str, str] = {
    "cdmx": "ciudad de mexico",
    "distrito federal": "ciudad de mexico",
    "df": "ciudad de mexico",
    "mexico": "estado de mexico",
    "edomex": "estado de mexico",
    "coahuila de zaragoza": "coahuila",
    "michoacan de ocampo": "michoacan",
    "veracruz de ignacio de la llave": "veracruz",
}

# The zone of each country's capital, for countries with one zone where people live.
_COUNTRY_ZONES: dict[str, str] = {
    "CO": "America/Bogota",
    "PE": "America/Lima",
    "CL": "America/Santiago",
}


def time_zone_for(country: str, state: str | None) -> str | None:
    """The IANA zone of an address, or None where the state does not settle it."""
    if country in _COUNTRY_ZONES:
        return _COUNTRY_ZONES[country]
    if country != "MX" or not state:
        return None
    key = fold(state)
    return _MX_STATE_ZONES.get(_MX_ALIASES.get(key, key))


def time_zone_for_phone(e164: str, default: str | None = None) -> str | None:
    """The IANA zone of a phone number's area, when its numbering plan settles one.

    phonenumbers maps each number prefix to the zones it may be in: +52 664 (Tijuana) to
    America/Tijuana, +52 998 (Cancún) to America/Cancun, +52 55 to America/Mexico_City. A
    prefix spread over several zones (US toll-free numbers), one the library cannot place
    (Chilean mobiles, for one) or a number that does not parse gives ``default``.
    """
    # phonenumbers keys its zone table by prefixes of at most 8 digits (Brazil's longest;
    # Mexico's are 5), so valid numbers (what intake stores) sharing their first 8 digits
    # share a zone: remember it, a portfolio has thousands of numbers in a handful of areas.
    # Shorter still: a number whose type does not decide its zone (fixed line or mobile, as
    # every Mexican number is) shares it with every such number of its area, the country's
    # longest zone prefix (Mexico: +52 and 3 digits), so a portfolio needs only a few hundred.
    area = _area_prefix(e164)
    if area is not None and area in _ZONE_BY_AREA:
        return _ZONE_BY_AREA[area] or default
    prefix = e164[:9]
    if prefix in _ZONE_BY_PREFIX:
        return _ZONE_BY_PREFIX[prefix] or default
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return default
    zone = _zone_of_number(number)
    # Only a valid number speaks for its prefix; the zone of an invalid one is its own.
    if phonenumbers.is_valid_number(number):
        _ZONE_BY_PREFIX[prefix] = zone
        kind = phonenumbers.number_type(number)
        if area is not None and kind == phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE:
            _ZONE_BY_AREA[area] = zone
    return zone or default


def _area_prefix(e164: str) -> str | None:
    """The number's first digits as far as the zone table of its country looks."""
    digits = e164[1:]
    for size in (1, 2, 3):
        code = digits[:size]
        if code.isdigit() and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            longest = _LONGEST_ZONE_PREFIX.get(code)
            if longest is None:
                longest = max(
                    (len(k) for k in TIMEZONE_DATA if k.startswith(code)), default=len(code)
                )
                _LONGEST_ZONE_PREFIX[code] = longest
            return digits[:longest] if len(digits) > longest else None
    return None


_LONGEST_ZONE_PREFIX: dict[str, int] = {}
_ZONE_BY_AREA: dict[str, str | None] = {}
_ZONE_BY_PREFIX: dict[str, str | None] = {}


def _zone_of(e164: str) -> str | None:
    """The zone phonenumbers gives this very number (no remembering)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return _zone_of_number(number)


def _zone_of_number(number: phonenumbers.PhoneNumber) -> str | None:
    zones = phone_zones.time_zones_for_number(number)
    if len(zones) == 1 and zones[0] != phone_zones.UNKNOWN_TIMEZONE:
        return zones[0]
    return None
