"""How personal data shows without a reveal (app/domain/identity.py): one home for every
mask, checked on the values and as properties."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from app.domain.identity import mask, mask_birth_date, mask_contact, mask_name


def test_a_birth_date_shows_only_its_year():
    assert mask_birth_date(date(1980, 4, 30)) == "1980-**-**"


@given(st.dates())
def test_no_birth_date_shows_its_month_or_day(day):
    shown = mask_birth_date(day)
    assert shown.startswith(f"{day.year}-") and shown.endswith("-**-**")


def test_a_name_shows_its_initials():
    assert mask_name("José  pérez López") == "J*** P*** L***"
    assert mask_name("   ") == "***"


@given(st.text(min_size=1, max_size=60))
def test_a_masked_name_keeps_no_letter_beyond_each_initial(name):
    shown = mask_name(name).split(" ")
    words = name.split()
    if not words:
        assert shown == ["***"]
        return
    # Each word shows as its first character in capitals (ß is "SS") and stars, no more.
    for masked, word in zip(shown, words, strict=True):
        assert masked.endswith("***") and masked[:-3] == word[0].upper()


def test_identifiers_and_contacts_show_their_last_four_or_a_hint():
    assert mask("LOGM850430MDFPRR09") == "****RR09"
    assert mask("123") == "****"
    assert mask_contact("email", "juana@mail.com") == "j***@mail.com"
    assert mask_contact("address", "Av. Reforma 222") == "Av.***"
