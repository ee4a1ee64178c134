"""Where a contact point is, and so which IANA time zone its contact rules run in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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
    overridden = _override(e164)
    if overridden is not None:
        return overridden[0] if len(overridden) == 1 else default
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


def _override(e164: str) -> tuple[str, ...] | None:
    digits = e164.lstrip("+")
    for size in range(min(_LONGEST_OVERRIDE, len(digits)), 0, -1):
        found = _PHONE_ZONES.get(digits[:size])
        if found is not None:
            return found
    return None


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
    """The zone of this very number, worked out the slow way (no remembering): the
    corrections where phonenumbers' table is stale, else the zone it gives."""
    overridden = _override(e164)
    if overridden is not None:
        return overridden[0] if len(overridden) == 1 else None
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


# ---------------------------------------------------------------------------------------
# The debtor's clock: every zone the evidence allows (DESIGN.md, "The debtor's clock is a set
# of zones"). A contact must be lawful in each candidate; the caller names the one that
# decided.
#
# Readings chosen:
# - Evidence is unioned: each point adds the zones it may be in, so more evidence never
#   narrows the set and so never allows more. A zone stored with a point at intake is used
#   only when the point's own data no longer places it (it may predate these tables).
# - A phone area spanning zones gives every zone (US 907: America/Anchorage and America/Adak;
#   a Chilean mobile, +56 9, may be anywhere in Chile); never the partner's clock.
# - An address naming a state or region gives that state's zones: every zone of a US state
#   that has several; Chile's Magallanes gives America/Punta_Arenas, Aysén
#   America/Coyhaique, the municipality of Isla de Pascua Pacific/Easter (Valparaíso without a
#   municipality gives both Santiago and Easter). A Mexican state gives the zone the tz
#   database gives it (Chihuahua: America/Chihuahua, UTC−6 all year since the 2022 Ley del
#   Sistema de Horario); its US-border municipalities (Juárez, Ojinaga, Matamoros, Reynosa…)
#   refine it to America/Ciudad_Juarez, America/Ojinaga or America/Matamoros.
# - No evidence at all gives every zone of the pack's country.

COUNTRY_ZONES: dict[str, tuple[str, ...]] = {
    "MX": (
        "America/Mexico_City",
        "America/Monterrey",
        "America/Merida",
        "America/Cancun",
        "America/Chihuahua",
        "America/Ciudad_Juarez",
        "America/Ojinaga",
        "America/Matamoros",
        "America/Mazatlan",
        "America/Hermosillo",
        "America/Tijuana",
        "America/Bahia_Banderas",
    ),
    "CO": ("America/Bogota",),
    "PE": ("America/Lima",),
    "CL": ("America/Santiago", "America/Punta_Arenas", "America/Coyhaique", "Pacific/Easter"),
    "BR": (
        "America/Sao_Paulo",
        "America/Bahia",
        "America/Fortaleza",
        "America/Recife",
        "America/Maceio",
        "America/Belem",
        "America/Santarem",
        "America/Araguaina",
        "America/Manaus",
        "America/Boa_Vista",
        "America/Porto_Velho",
        "America/Cuiaba",
        "America/Campo_Grande",
        "America/Rio_Branco",
        "America/Eirunepe",
        "America/Noronha",
    ),
    "US": (
        "America/New_York",
        "America/Detroit",
        "America/Indiana/Indianapolis",
        "America/Kentucky/Louisville",
        "America/Chicago",
        "America/Menominee",
        "America/Denver",
        "America/Boise",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "America/Juneau",
        "America/Sitka",
        "America/Yakutat",
        "America/Nome",
        "America/Metlakatla",
        "America/Adak",
        "Pacific/Honolulu",
        "America/Puerto_Rico",
    ),
}

_NY, _CHI, _DEN, _LA, _PHX = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
)
_ALASKA = (
    "America/Anchorage",
    "America/Juneau",
    "America/Sitka",
    "America/Yakutat",
    "America/Nome",
    "America/Metlakatla",
    "America/Adak",
)

# US states (USPS codes) by every zone of their territory.
_US_STATE_ZONES: dict[str, tuple[str, ...]] = {
    **{
        s: (_NY,)
        for s in [
            "CT",
            "DE",
            "DC",
            "GA",
            "ME",
            "MD",
            "MA",
            "NH",
            "NJ",
            "NY",
            "NC",
            "OH",
            "PA",
            "RI",
            "SC",
            "VT",
            "VA",
            "WV",
        ]
    },
    **{s: (_CHI,) for s in ["AL", "AR", "IL", "IA", "LA", "MN", "MS", "MO", "OK", "WI"]},
    **{s: (_DEN,) for s in ["CO", "MT", "NM", "UT", "WY"]},
    "CA": (_LA,),
    "WA": (_LA,),
    "AK": _ALASKA,
    "HI": ("Pacific/Honolulu",),
    "AZ": (_PHX, _DEN),  # the Navajo Nation keeps daylight saving
    "FL": (_NY, _CHI),
    "ID": ("America/Boise", _LA),
    "IN": ("America/Indiana/Indianapolis", _CHI, _NY),
    "KS": (_CHI, _DEN),
    "KY": ("America/Kentucky/Louisville", _NY, _CHI),
    "MI": ("America/Detroit", "America/Menominee"),
    "NE": (_CHI, _DEN),
    "NV": (_LA, _DEN),  # West Wendover
    "ND": (_CHI, "America/North_Dakota/Center", _DEN),
    "OR": (_LA, "America/Boise"),
    "SD": (_CHI, _DEN),
    "TN": (_CHI, _NY),
    "TX": (_CHI, _DEN),
    "PR": ("America/Puerto_Rico",),
    "GU": ("Pacific/Guam",),
    "VI": ("America/St_Thomas",),
    "AS": ("Pacific/Pago_Pago",),
    "MP": ("Pacific/Saipan",),
}

# Phone prefixes (country code and area, no '+') whose zones the phonenumbers tables get
# wrong or too narrow. Longest prefix wins.
_PHONE_ZONES: dict[str, tuple[str, ...]] = {
    # Chihuahua's areas outside the US border strip: America/Chihuahua, not Mazatlan.
    **{
        f"52{area}": ("America/Chihuahua",)
        for area in ("614", "621", "625", "627", "628", "629", "635", "636", "639", "648", "652")
    },
    "52649": ("America/Chihuahua", "America/Mexico_City"),  # Chihuahua and Durango
    "52659": ("America/Chihuahua", "America/Ciudad_Juarez"),
    # US area codes spanning zones.
    "1907": _ALASKA,
    "1208": ("America/Boise", _LA),
    "1986": ("America/Boise", _LA),
    "1541": (_LA, "America/Boise"),
    "1458": (_LA, "America/Boise"),
    "1850": (_NY, _CHI),
    "1448": (_NY, _CHI),
    "1270": (_CHI, _NY),
    "1364": (_CHI, _NY),
    "1606": (_NY, _CHI),
    "1423": (_NY, _CHI),
    "1931": (_CHI, _NY),
    "1812": (_NY, _CHI),
    "1930": (_NY, _CHI),
    "1219": (_CHI, _NY),
    "1574": (_NY, _CHI),
    "1906": ("America/Detroit", "America/Menominee"),
    "1432": (_CHI, _DEN),
    "1308": (_CHI, _DEN),
    "1785": (_CHI, _DEN),
    "1620": (_CHI, _DEN),
    "1605": (_CHI, _DEN),
    "1701": (_CHI, "America/North_Dakota/Center", _DEN),
    "1928": (_PHX, _DEN),
    "1775": (_LA, _DEN),
    # Chile: Magallanes (61), Aysén (67), Easter Island (32 2100…), mobiles anywhere.
    "5661": ("America/Punta_Arenas",),
    "5667": ("America/Coyhaique",),
    "563221": ("America/Santiago", "Pacific/Easter"),
    "569": COUNTRY_ZONES["CL"],
}
_LONGEST_OVERRIDE = max(len(k) for k in _PHONE_ZONES)

_MX_BORDER: dict[str, str] = {
    **{
        m: "America/Ciudad_Juarez"
        for m in (
            "juarez",
            "ciudad juarez",
            "ascension",
            "janos",
            "guadalupe",
            "praxedis g. guerrero",
            "praxedis g guerrero",
        )
    },
    **{m: "America/Ojinaga" for m in ("ojinaga", "manuel benavides", "coyame del sotol")},
    **{
        m: "America/Matamoros"
        for m in (
            "matamoros",
            "reynosa",
            "nuevo laredo",
            "rio bravo",
            "valle hermoso",
            "miguel aleman",
            "mier",
            "gustavo diaz ordaz",
            "acuna",
            "ciudad acuna",
            "piedras negras",
            "nava",
            "anahuac",
        )
    },
}
_MX_BORDER_STATES = {"chihuahua", "tamaulipas", "coahuila", "nuevo leon"}

_CL_REGIONS: dict[str, tuple[str, ...]] = {
    "magallanes": ("America/Punta_Arenas",),
    "magallanes y de la antartica chilena": ("America/Punta_Arenas",),
    "magallanes y antartica chilena": ("America/Punta_Arenas",),
    "xii": ("America/Punta_Arenas",),
    "aysen": ("America/Coyhaique",),
    "aysen del general carlos ibanez del campo": ("America/Coyhaique",),
    "xi": ("America/Coyhaique",),
    "valparaiso": ("America/Santiago", "Pacific/Easter"),
    "v": ("America/Santiago", "Pacific/Easter"),
}
_CL_EASTER = {"isla de pascua", "rapa nui", "hanga roa"}


@dataclass(frozen=True, slots=True)
class ZoneEvidence:
    """One piece of evidence of where the person is: a phone (``value`` in E.164), an
    address (country, state or region, municipality, postal code) or an email (which places
    no one); ``time_zone`` is what was stored with the point, if anything."""

    kind: str  # phone | address | email
    country: str | None = None
    value: str | None = None
    state: str | None = None
    municipality: str | None = None
    postal_code: str | None = None
    time_zone: str | None = None


def zones_for_phone(e164: str) -> frozenset[str]:
    """Every zone a phone number's area may be in (empty when nothing places it)."""
    found = _override(e164)
    if found is not None:
        return frozenset(found)
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return frozenset()
    zones = frozenset(phone_zones.time_zones_for_number(number)) - {phone_zones.UNKNOWN_TIMEZONE}
    if zones:
        return zones
    region = phonenumbers.region_code_for_number(number)
    return frozenset(COUNTRY_ZONES.get(region or "", ()))


def zones_for_address(
    country: str | None,
    state: str | None,
    municipality: str | None = None,
    postal_code: str | None = None,
) -> frozenset[str]:
    """Every zone an address may be in (empty when nothing places it)."""
    if not country:
        return frozenset()
    country = country.upper()
    place = fold(municipality) if municipality else ""
    region = fold(state) if state else ""
    if country == "MX":
        key = _MX_ALIASES.get(region, region)
        if key in _MX_BORDER_STATES and place in _MX_BORDER:
            return frozenset({_MX_BORDER[place]})
        if key == "chihuahua" and postal_code and postal_code.strip()[:3] in _JUAREZ_POSTAL:
            return frozenset({"America/Ciudad_Juarez"})
        zone = _MX_STATE_ZONES.get(key)
        return frozenset({zone}) if zone else frozenset()
    if country == "CL":
        if place in _CL_EASTER:
            return frozenset({"Pacific/Easter"})
        if region.startswith("region de "):
            region = region.removeprefix("region de ")
        if region in _CL_REGIONS:
            zones = _CL_REGIONS[region]
            if place and "Pacific/Easter" in zones:
                return frozenset({"America/Santiago"})
            return frozenset(zones)
        return frozenset({"America/Santiago"}) if region else frozenset()
    if country == "US":
        return frozenset(_US_STATE_ZONES.get(region.upper(), ()))
    if country in _COUNTRY_ZONES:
        return frozenset({_COUNTRY_ZONES[country]})
    return frozenset()


# Ciudad Juárez's postal codes run 32000–32699 (Chihuahua: 31000–33999).
_JUAREZ_POSTAL = frozenset(f"32{d}" for d in "0123456")


def evidence_zones(item: ZoneEvidence) -> frozenset[str]:
    """The zones one piece of evidence allows (empty: it places no one)."""
    found: frozenset[str] = frozenset()
    if item.kind == "phone" and item.value:
        found = zones_for_phone(item.value)
    elif item.kind == "address":
        found = zones_for_address(item.country, item.state, item.municipality, item.postal_code)
    if not found and item.time_zone and item.kind != "email":
        found = frozenset({item.time_zone})
    return found


def candidate_zones(evidence: Iterable[ZoneEvidence], country: str) -> tuple[str, ...]:
    """The non-empty set of zones the person may be in, sorted: the union of what every
    piece of evidence allows, or every zone of ``country`` when nothing places them."""
    return zones_from((evidence_zones(item) for item in evidence), country)


def zones_from(allowed: Iterable[frozenset[str]], country: str) -> tuple[str, ...]:
    """The candidate zones from what each piece of evidence allows (:func:`evidence_zones`,
    worked out beforehand): their union, or every zone of ``country`` when none places the
    person."""
    zones: set[str] = set()
    for found in allowed:
        zones |= found
    if not zones:
        zones = set(COUNTRY_ZONES.get(country.upper(), ())) or {"UTC"}
    return tuple(sorted(zones))
