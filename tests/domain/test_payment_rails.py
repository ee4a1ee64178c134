"""The CLABE and convenience-store reference rules, against published examples and as
properties; the SPEI statement's lines and their matching."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.identity import Country, mask_name
from app.domain.payment_files import AccountKey, FileContext, Outcome, PaymentLine
from app.domain.payment_rails import (
    NOT_IN_MEXICO,
    ClabeIssuer,
    clabe_check_digit,
    clabe_problem,
    instructions,
    is_valid_clabe,
    store_check_digit,
    store_reference,
    store_serial_of,
)
from app.domain.spei_files import check_file_header, match, read_line

ISSUER = ClabeIssuer("646", "180", "STP")

# Published valid CLABEs: Wikipedia's "CLABE" article works its control digit through
# (032180000118359719); the ABM-format check-digit calculator published on Scribd
# ("CalculadoraCLABE") works 01218002605078385 → 8.
PUBLISHED = ["032180000118359719", "012180026050783858"]


@pytest.mark.parametrize("clabe", PUBLISHED)
def test_published_clabes_validate(clabe):
    assert is_valid_clabe(clabe)
    assert clabe_check_digit(clabe[:17]) == clabe[17]


@pytest.mark.parametrize("clabe", PUBLISHED)
def test_a_published_clabe_altered_in_any_digit_fails(clabe):
    for position in range(18):
        for digit in "0123456789":
            if digit == clabe[position]:
                continue
            altered = clabe[:position] + digit + clabe[position + 1 :]
            assert not is_valid_clabe(altered), altered


@pytest.mark.parametrize(
    "text", ["03218000011835971", "0321800001183597190", "03218000011835971X", ""]
)
def test_not_eighteen_digits_is_not_a_clabe(text):
    assert not is_valid_clabe(text)


@given(st.integers(min_value=1, max_value=10**11 - 1))
def test_every_generated_clabe_validates_and_names_its_serial(serial):
    clabe = ISSUER.clabe(serial)
    assert len(clabe) == 18 and clabe.startswith("646180")
    assert is_valid_clabe(clabe)
    assert ISSUER.serial_of(clabe) == serial


@given(
    st.integers(min_value=1, max_value=10**11 - 1),
    st.integers(min_value=0, max_value=17),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_change_fails(serial, position, shift):
    clabe = ISSUER.clabe(serial)
    digit = str((int(clabe[position]) + shift) % 10)
    altered = clabe[:position] + digit + clabe[position + 1 :]
    assert not is_valid_clabe(altered)
    assert ISSUER.serial_of(altered) is None


def test_a_clabe_of_another_bank_or_plaza_names_no_account():
    other = ClabeIssuer("012", "180", "BBVA").clabe(17)
    assert is_valid_clabe(other)
    assert ISSUER.serial_of(other) is None
    assert str(clabe_problem(ISSUER, other)) == (
        "the CLABE is not one the collection bank issued for the agency"
    )


def test_issuer_codes_are_three_digits():
    with pytest.raises(ValueError):
        ClabeIssuer("64", "180", "STP")
    with pytest.raises(ValueError):
        ISSUER.clabe(10**11)


# Luhn: Wikipedia's "Luhn algorithm" example, and the store reference built on it.
def test_the_published_luhn_example_checks():
    assert store_check_digit("7992739871") == "3"
    reference = store_reference("90", 17)
    assert reference == "90000000001" + "7" + store_check_digit("900000000017")
    assert store_serial_of("90", reference) == 17
    assert store_serial_of("90", reference[:-1] + str((int(reference[-1]) + 1) % 10)) is None
    assert store_serial_of("91", reference) is None


@given(st.integers(min_value=1, max_value=10**10 - 1), st.sampled_from(["90", "1234", "7"]))
def test_every_store_reference_reads_back(serial, prefix):
    reference = store_reference(prefix, serial)
    assert len(reference) == len(prefix) + 11
    assert store_serial_of(prefix, reference) == serial


@given(
    st.integers(min_value=1, max_value=10**10 - 1),
    st.integers(min_value=0, max_value=12),
    st.integers(min_value=1, max_value=9),
)
def test_a_mistyped_store_reference_is_refused(serial, position, shift):
    reference = store_reference("90", serial)
    digit = str((int(reference[position]) + shift) % 10)
    altered = reference[:position] + digit + reference[position + 1 :]
    assert store_serial_of("90", altered) != serial


def test_instructions_in_mexico_and_elsewhere():
    mx = instructions(ISSUER, "90", serial=17, payment_reference="000000001740",
                      country="MX", currency="MXN")  # fmt: skip
    assert mx.clabe == "646180000000000173"[:17] + clabe_check_digit("64618000000000017")
    assert mx.clabe is not None and is_valid_clabe(mx.clabe)
    assert mx.bank_name == "STP" and mx.store_reference == store_reference("90", 17)
    assert mx.unavailable_reason is None
    co = instructions(ISSUER, "90", serial=17, payment_reference="000000001740",
                      country="CO", currency="COP")  # fmt: skip
    assert co.clabe is None and co.store_reference is None
    assert co.unavailable_reason == NOT_IN_MEXICO


def test_names_are_masked_to_initials():
    assert mask_name("Juan Pérez López") == "J*** P*** L***"
    assert mask_name("  ") == "***"


# --- SPEI statement lines -----------------------------------------------------------------

CONTEXT = FileContext(Country.MX, "MXN", date(2026, 12, 5))


def test_the_header_needs_the_four_columns():
    fields = {e.field for e in check_file_header(["amount", "date", "payer_name"])}
    assert fields == {"beneficiary_clabe", "tracking_key"}
    assert next(e.field for e in check_file_header(["amount", "iban"])) == "column 2"


def test_a_line_is_read_and_its_errors_listed():
    good = read_line(2, {"amount": "10.50", "date": "2026-12-01",
                         "beneficiary_clabe": ISSUER.clabe(5), "tracking_key": "mban01abc",
                         "payer_name": "Ana Ruiz", "payer_bank": "BBVA"}, CONTEXT)  # fmt: skip
    assert isinstance(good, PaymentLine)
    assert good.payer_reference == "MBAN01ABC" and good.channel == "spei"
    assert good.amount == Decimal("10.50") and good.payer_name == "Ana Ruiz"
    bad = read_line(3, {"amount": "x", "date": "2099-01-01", "beneficiary_clabe": "12",
                        "tracking_key": "a b"}, CONTEXT)  # fmt: skip
    assert isinstance(bad, list)
    assert {e.field for e in bad} == {"amount", "date", "beneficiary_clabe", "tracking_key"}


def _line(clabe: str) -> PaymentLine:
    line = read_line(2, {"amount": "1.00", "date": "2026-12-01", "beneficiary_clabe": clabe,
                         "tracking_key": "K1"}, CONTEXT)  # fmt: skip
    assert isinstance(line, PaymentLine)
    return line


def test_matching_by_clabe_and_every_reason_for_no_match():
    own = {
        1: AccountKey("a1", "R1", 1, recalled=False),
        2: AccountKey("a2", "R2", 2, recalled=True),
        3: AccountKey("a3", "R3", 3, recalled=False, closed=True),
    }
    found = match(_line(ISSUER.clabe(1)), ISSUER, own)
    assert found.outcome is Outcome.MATCHED_BY_REFERENCE and found.account == own[1]
    wrong_digit = ISSUER.clabe(1)[:17] + str((int(ISSUER.clabe(1)[17]) + 1) % 10)
    cases = {
        wrong_digit: "the CLABE's check digit does not match",
        ClabeIssuer("012", "180", "X").clabe(1): (
            "the CLABE is not one the collection bank issued for the agency"
        ),
        ISSUER.clabe(2): "the account was recalled by the partner",
        ISSUER.clabe(3): "the account is closed",
        # Serial 4 may be another partner's account: it reads as no account at all.
        ISSUER.clabe(4): "no account of the partner has this CLABE",
        ISSUER.clabe(5): "no account of the partner has this CLABE",
    }
    for clabe, detail in cases.items():
        result = match(_line(clabe), ISSUER, own)
        assert (result.outcome, str(result.detail)) == (Outcome.UNMATCHED, detail), clabe
