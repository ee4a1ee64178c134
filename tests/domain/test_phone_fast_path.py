"""The fast E.164 path gives exactly what phonenumbers' full parser gives, or steps aside."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.identity import Country, _fast_e164, _parse_phone, normalise_phone

digits = st.text(alphabet="0123456789", min_size=6, max_size=13)
separators = st.sampled_from(["", " ", "-", ".", "(", ")"])


def full_parser(value: str, country: Country) -> str | None:
    try:
        return _parse_phone(value, country)
    except ValueError:
        return None


@settings(max_examples=3000)
@given(country=st.sampled_from(list(Country)), number=digits, plus=st.booleans())
def test_fast_path_agrees_with_the_full_parser(country: Country, number: str, plus: bool) -> None:
    value = f"+{number}" if plus else number
    fast = _fast_e164(value, country)
    if fast is not None:
        assert fast == full_parser(value, country)


@settings(max_examples=1000)
@given(country=st.sampled_from(list(Country)), number=digits, sep=separators)
def test_separators_do_not_change_the_answer(country: Country, number: str, sep: str) -> None:
    spaced = sep.join([number[:2], number[2:6], number[6:]])
    fast = _fast_e164(spaced, country)
    if fast is not None:
        assert fast == full_parser(spaced, country)


def test_plain_mexican_numbers_take_the_fast_path() -> None:
    assert _fast_e164("55 1234 5678", Country.MX) == "+525512345678"
    assert _fast_e164("+52 (33) 1234-5678", Country.MX) == "+523312345678"


def test_numbers_the_fast_path_declines_still_parse() -> None:
    # A national prefix (Colombia's 0…) or a letter leaves the number to the full parser.
    assert _fast_e164("1-800-FLOWERS", Country.US) is None
    assert normalise_phone("+1 650 253 0000", Country.US) == full_parser(
        "+1 650 253 0000", Country.US
    )


def test_fast_path_is_taken_often_and_always_agrees() -> None:
    import random

    rng = random.Random(11)
    taken = 0
    for country in Country:
        for _ in range(2000):
            number = str(rng.randrange(10**9, 10**11))
            fast = _fast_e164(number, country)
            if fast is not None:
                taken += 1
                assert fast == full_parser(number, country)
    assert taken > 200


NATIONAL_LENGTH = {"52": 10, "57": 10, "51": 9, "56": 9, "55": 11, "1": 10}


@settings(max_examples=1500, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data(), country=st.sampled_from(sorted(NATIONAL_LENGTH)))
def test_the_zone_remembered_by_prefix_is_the_numbers_own(data, country: str) -> None:
    import phonenumbers
    from hypothesis import assume

    from app.domain.geography import _zone_of, time_zone_for_phone

    size = NATIONAL_LENGTH[country]
    national = data.draw(st.text(alphabet="0123456789", min_size=size, max_size=size))
    e164 = f"+{country}{national}"
    # Intake hands it valid numbers only: for those the remembered zone is the number's own.
    assume(phonenumbers.is_valid_number(phonenumbers.parse(e164, None)))
    assert time_zone_for_phone(e164) == _zone_of(e164)
