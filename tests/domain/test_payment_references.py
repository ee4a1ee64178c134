"""Payment references find their account, and a mistyped one finds none."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from app.domain.payments import payment_reference, serial_of

serials = st.integers(min_value=1, max_value=10**10 - 1)


@given(serials)
def test_a_reference_names_its_account(serial: int) -> None:
    reference = payment_reference(serial)
    assert len(reference) == 12 and reference.isdigit()
    assert serial_of(reference) == serial
    assert serial_of(f"{reference[:4]} {reference[4:8]}-{reference[8:]}") == serial


@given(serials, st.integers(min_value=0, max_value=11), st.integers(min_value=1, max_value=9))
def test_any_single_mistyped_digit_is_caught(serial: int, position: int, shift: int) -> None:
    reference = payment_reference(serial)
    wrong = str((int(reference[position]) + shift) % 10)
    typo = reference[:position] + wrong + reference[position + 1 :]
    assert serial_of(typo) is None


@given(serials, st.integers(min_value=0, max_value=10))
def test_swapping_two_neighbouring_digits_is_caught(serial: int, position: int) -> None:
    reference = payment_reference(serial)
    a, b = reference[position], reference[position + 1]
    assume(a != b)
    swapped = reference[:position] + b + a + reference[position + 2 :]
    assert serial_of(swapped) is None


def test_what_is_not_a_reference() -> None:
    assert serial_of("") is None
    assert serial_of("12345") is None
    assert serial_of("ABCDEFGHIJKL") is None
