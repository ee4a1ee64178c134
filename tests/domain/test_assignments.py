"""One row of an assignment push (``app.domain.assignments``): every way a row is refused,
what a valid row becomes, its content hash, and the flat CSV/Excel shape.

Valid CURPs and RFCs are built with python-stdnum's check-digit functions and then broken on
purpose, so each test says which part of the id it spoils.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.mx import curp, rfc

from app.domain.assignments import (
    CSV_COLUMNS,
    MAX_REFERENCES,
    REQUIRED_COLUMNS,
    AccountRow,
    IntakeContext,
    RowError,
    check_header,
    nest_flat_row,
    validate_row,
)
from app.domain.identity import Country
from app.domain.stages import ProductType

TODAY = date(2026, 1, 31)
CONTEXT = IntakeContext(Country.MX, "MXN", TODAY)
TOMORROW = (TODAY + timedelta(days=1)).isoformat()

CURP_STEM = "BOXW310820HNERXN0"
RFC_PERSON_STEM = "GODE561231GR"
CURP = CURP_STEM + curp.calc_check_digit(CURP_STEM)
RFC = RFC_PERSON_STEM + rfc.calc_check_digit(RFC_PERSON_STEM)


def wrong_last(value: str) -> str:
    """The same id with a different (so wrong) last character."""
    return value[:-1] + ("1" if value[-1] != "1" else "2")


def base_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "external_ref": "TC-0001",
        "product_type": "revolving",
        "currency": "MXN",
        "original_amount": "5000.00",
        "principal": "1000.00",
        "interest": "120.50",
        "fees": "0",
        "total": "1120.50",
        "past_due_amount": "300.00",
        "oldest_unpaid_due_date": "2025-12-01",
        "last_payment_date": "2025-11-15",
        "last_payment_amount": "250.00",
        "debtor": {
            "first_names": "Juan",
            "last_names": "Pérez López",
            "national_id_type": "CURP",
            "national_id": CURP,
            "birth_date": "1931-08-20",
            "phones": ["55 1234 5678"],
            "emails": ["Juan.Perez@Example.MX"],
            "addresses": [
                {
                    "line": "Av. Reforma 1, Centro",
                    "state": "Sonora",
                    "municipality": "Hermosillo",
                    "postal_code": "83000",
                    "latitude": "29.072967",
                    "longitude": "-110.955919",
                }
            ],
        },
        "references": [
            {"full_name": "Ana Pérez", "relationship": "hermana", "phones": ["33 1234 5678"]}
        ],
        "guarantors": [
            {
                "full_name": "Luis Gómez",
                "national_id_type": "RFC",
                "national_id": RFC,
                "phones": ["81 1234 5678"],
            }
        ],
    }
    row.update(overrides)
    return row


def with_debtor(**changes: Any) -> dict[str, Any]:
    row = base_row()
    row["debtor"] = {**row["debtor"], **changes}
    return row


def with_address(**changes: Any) -> dict[str, Any]:
    row = base_row()
    address = {**row["debtor"]["addresses"][0], **changes}
    row["debtor"] = {**row["debtor"], "addresses": [address]}
    return row


def accepted(raw: Any) -> AccountRow:
    result = validate_row(7, raw, CONTEXT)
    assert isinstance(result, AccountRow), result
    return result


def errors_of(raw: Any) -> list[RowError]:
    result = validate_row(7, raw, CONTEXT)
    assert isinstance(result, list), f"row was accepted: {result}"
    assert result, "a refused row must say why"
    return result


def only_error(raw: Any, field: str) -> str:
    """The message of the one error reported on ``field``."""
    errors = errors_of(raw)
    found = [e.message for e in errors if e.field == field]
    assert len(found) == 1, errors
    return found[0]


def test_the_base_row_is_valid():
    row = accepted(base_row())
    assert row.row_number == 7
    assert row.external_ref == "TC-0001"


# ---------------------------------------------------------------------------------------
# Every way a row is refused


class TestAccountFields:
    @pytest.mark.parametrize("value", [None, "", "   "])
    def test_missing_external_ref(self, value):
        raw = base_row(external_ref=value)
        assert "required" in only_error(raw, "external_ref")

    def test_external_ref_absent_altogether(self):
        raw = base_row()
        del raw["external_ref"]
        assert "required" in only_error(raw, "external_ref")

    def test_external_ref_too_long(self):
        assert accepted(base_row(external_ref="R" * 64)).external_ref == "R" * 64
        message = only_error(base_row(external_ref="R" * 65), "external_ref")
        assert "64" in message

    def test_external_ref_with_control_characters(self):
        message = only_error(base_row(external_ref="TC-\x00-1"), "external_ref")
        assert "control" in message

    @pytest.mark.parametrize("value", ["lease", "mortgage", "revolving-credit"])
    def test_bad_product_type(self, value):
        message = only_error(base_row(product_type=value), "product_type")
        for allowed in ("revolving", "installment", "single_payment"):
            assert allowed in message

    def test_product_type_is_case_insensitive(self):
        assert accepted(base_row(product_type="Installment")).product_type is (
            ProductType.INSTALLMENT
        )

    @pytest.mark.parametrize("value", ["USD", "COP", "MX"])
    def test_currency_other_than_the_partners(self, value):
        assert "MXN" in only_error(base_row(currency=value), "currency")

    def test_currency_in_lower_case_is_the_partners(self):
        assert accepted(base_row(currency="mxn")).currency == "MXN"

    @pytest.mark.parametrize(
        "field", ["principal", "interest", "fees", "total", "original_amount", "past_due_amount"]
    )
    def test_negative_amount(self, field):
        message = only_error(base_row(**{field: "-1.00"}), field)
        assert "negative" in message

    @pytest.mark.parametrize("value", ["1000.001", "999.999", "0.005"])
    def test_more_decimals_than_the_currency_has(self, value):
        message = only_error(base_row(principal=value), "principal")
        assert "more decimals than MXN" in message

    def test_trailing_zeros_beyond_two_decimals_are_the_same_amount(self):
        assert accepted(base_row(principal="1000.0000")).principal == Decimal("1000.00")

    @pytest.mark.parametrize("value", ["abc", "1,000.00", "12e", "NaN", "Infinity", True, 1.5])
    def test_non_numeric_amount(self, value):
        message = only_error(base_row(interest=value), "interest")
        assert "decimal amount" in message

    @pytest.mark.parametrize("field", ["principal", "interest", "fees", "total"])
    def test_required_amount_missing(self, field):
        raw = base_row()
        del raw[field]
        assert "required" in only_error(raw, field)

    def test_total_other_than_principal_interest_and_fees(self):
        message = only_error(base_row(total="1120.49"), "total")
        assert "principal + interest + fees" in message

    def test_past_due_amount_above_total(self):
        message = only_error(base_row(past_due_amount="1120.51"), "past_due_amount")
        assert "exceed" in message
        assert accepted(base_row(past_due_amount="1120.50")).past_due_amount == Decimal("1120.50")

    def test_oldest_unpaid_due_date_in_the_future(self):
        message = only_error(base_row(oldest_unpaid_due_date=TOMORROW), "oldest_unpaid_due_date")
        assert "future" in message
        assert accepted(base_row(oldest_unpaid_due_date=TODAY.isoformat()))

    def test_last_payment_date_in_the_future(self):
        message = only_error(base_row(last_payment_date=TOMORROW), "last_payment_date")
        assert "future" in message

    def test_birth_date_in_the_future(self):
        message = only_error(with_debtor(birth_date=TOMORROW), "debtor.birth_date")
        assert "future" in message

    @pytest.mark.parametrize(
        "value", ["31/01/2026", "2026-1-31", "2026-02-30", "20260131", 20260131]
    )
    def test_bad_date_format(self, value):
        message = only_error(base_row(oldest_unpaid_due_date=value), "oldest_unpaid_due_date")
        assert "YYYY-MM-DD" in message

    def test_an_iso_week_date_is_not_the_documented_format(self):
        # "2026-W05-6" is 2026-01-31 in ISO week notation: ten characters, but not YYYY-MM-DD.
        message = only_error(
            base_row(oldest_unpaid_due_date="2026-W05-6"), "oldest_unpaid_due_date"
        )
        assert "YYYY-MM-DD" in message

    def test_date_before_1900(self):
        message = only_error(with_debtor(birth_date="1899-12-31"), "debtor.birth_date")
        assert "1900" in message

    def test_last_payment_date_without_amount(self):
        message = only_error(base_row(last_payment_amount=None), "last_payment_amount")
        assert "together" in message

    def test_last_payment_amount_without_date(self):
        message = only_error(base_row(last_payment_date=""), "last_payment_amount")
        assert "together" in message

    def test_no_last_payment_at_all_is_fine(self):
        row = accepted(base_row(last_payment_date=None, last_payment_amount=None))
        assert row.last_payment_date is None and row.last_payment_amount is None


class TestDebtorFields:
    def test_debtor_missing(self):
        raw = base_row()
        del raw["debtor"]
        errors = errors_of(raw)
        assert RowError("debtor", "is required") in errors

    @pytest.mark.parametrize("value", ["INE", "PASSPORT", "X"])
    def test_bad_national_id_type(self, value):
        message = only_error(with_debtor(national_id_type=value), "debtor.national_id_type")
        assert "CURP" in message and "RFC" in message

    def test_national_id_type_is_case_insensitive(self):
        assert accepted(with_debtor(national_id_type="curp")).national_id_type == "CURP"

    def test_curp_with_a_wrong_check_digit(self):
        message = only_error(with_debtor(national_id=wrong_last(CURP)), "debtor.national_id")
        assert "CURP" in message and "check digit" in message

    def test_rfc_with_a_wrong_check_digit(self):
        raw = with_debtor(national_id_type="RFC", national_id=wrong_last(RFC))
        message = only_error(raw, "debtor.national_id")
        assert "RFC" in message and "check digit" in message

    def test_an_rfc_without_homoclave_is_still_accepted_for_a_debtor(self):
        raw = with_debtor(national_id_type="RFC", national_id=RFC_PERSON_STEM[:10])
        assert accepted(raw).national_id == RFC_PERSON_STEM[:10]

    def test_valid_rfc_is_accepted_and_compacted(self):
        raw = with_debtor(national_id_type="rfc", national_id=RFC.lower())
        row = accepted(raw)
        assert (row.national_id_type, row.national_id) == ("RFC", RFC)

    def test_curp_with_an_impossible_birth_date(self):
        stem = "BOXW311320HNERXN0"  # month 13
        raw = with_debtor(national_id=stem + "1")
        assert "CURP" in only_error(raw, "debtor.national_id")

    def test_guarantor_id_with_a_wrong_check_digit(self):
        raw = base_row()
        raw["guarantors"] = [{**raw["guarantors"][0], "national_id": wrong_last(RFC)}]
        message = only_error(raw, "guarantors[0].national_id")
        assert "check digit" in message

    def test_guarantor_id_number_without_its_type(self):
        raw = base_row()
        raw["guarantors"] = [{**raw["guarantors"][0], "national_id_type": None}]
        assert "both" in only_error(raw, "guarantors[0].national_id")

    @pytest.mark.parametrize(
        ("phone", "reason"),
        [("12345", "not a valid phone number for MX"), ("55 1234", "MX"), ("abc", "phone")],
    )
    def test_phone_not_valid_for_mx(self, phone, reason):
        raw = with_debtor(phones=["55 1234 5678", phone])
        message = only_error(raw, "debtor.phones[1]")
        assert reason in message

    def test_reference_phone_not_valid(self):
        raw = base_row()
        raw["references"] = [{**raw["references"][0], "phones": ["12"]}]
        assert "MX" in only_error(raw, "references[0].phones[0]")

    @pytest.mark.parametrize(
        "email", ["juan", "juan@", "@example.mx", "juan@example", "juan pérez@example.mx"]
    )
    def test_bad_email(self, email):
        message = only_error(with_debtor(emails=[email]), "debtor.emails[0]")
        assert "email" in message

    def test_too_many_phones(self):
        raw = with_debtor(phones=["55 1234 5678"] * 6)
        assert "at most 5" in only_error(raw, "debtor.phones")

    def test_phones_not_a_list(self):
        raw = with_debtor(phones="55 1234 5678")
        assert "list" in only_error(raw, "debtor.phones")

    @pytest.mark.parametrize("postal_code", ["8300", "830001", "83-00", "ABCDE"])
    def test_bad_mx_postal_code(self, postal_code):
        raw = with_address(postal_code=postal_code)
        message = only_error(raw, "debtor.addresses[0].postal_code")
        assert "five digits" in message

    def test_non_mx_postal_codes_are_not_held_to_five_digits(self):
        context = IntakeContext(Country.CO, "COP", TODAY)
        raw = base_row(
            currency="COP",
            debtor={
                "first_names": "Ana",
                "last_names": "Ruiz",
                "national_id_type": "CC",
                "national_id": "1020304050",
                "addresses": [{"line": "Calle 1", "postal_code": "110111X"}],
            },
            references=[],
            guarantors=[],
        )
        assert isinstance(validate_row(1, raw, context), AccountRow)

    @pytest.mark.parametrize("latitude", ["90.000001", "-91", "180"])
    def test_latitude_out_of_range(self, latitude):
        raw = with_address(latitude=latitude)
        message = only_error(raw, "debtor.addresses[0].latitude")
        assert "between -90 and 90" in message

    def test_longitude_out_of_range(self):
        raw = with_address(longitude="-180.5")
        message = only_error(raw, "debtor.addresses[0].longitude")
        assert "between -180 and 180" in message

    def test_latitude_without_longitude(self):
        raw = with_address(longitude=None)
        assert "both" in only_error(raw, "debtor.addresses[0].latitude")

    def test_address_without_its_line(self):
        raw = with_address(line=None)
        assert "required" in only_error(raw, "debtor.addresses[0].line")


class TestShape:
    def test_too_many_references(self):
        reference = base_row()["references"][0]
        assert accepted(base_row(references=[reference] * MAX_REFERENCES))
        raw = base_row(references=[reference] * (MAX_REFERENCES + 1))
        message = only_error(raw, "references")
        assert str(MAX_REFERENCES) in message

    def test_too_many_guarantors(self):
        guarantor = base_row()["guarantors"][0]
        assert "at most 2" in only_error(base_row(guarantors=[guarantor] * 3), "guarantors")

    def test_reference_that_is_not_an_object(self):
        assert "object" in only_error(base_row(references=["Ana"]), "references[0]")

    @pytest.mark.parametrize("raw", [["TC-1", "revolving"], "TC-1,revolving", 42, None])
    def test_a_row_that_is_not_an_object(self, raw):
        assert validate_row(3, raw, CONTEXT) == [RowError("row", "must be an object")]

    def test_every_problem_of_a_row_is_reported_at_once(self):
        raw = base_row(external_ref="", currency="USD", total="1", product_type="x")
        fields = {e.field for e in errors_of(raw)}
        assert {"external_ref", "currency", "total", "product_type"} <= fields


# ---------------------------------------------------------------------------------------
# What a valid row becomes


class TestValidRow:
    def test_values_are_normalised(self):
        row = accepted(base_row())
        assert row.product_type is ProductType.REVOLVING
        assert row.currency == "MXN"
        assert (row.principal, row.interest, row.fees, row.total) == (
            Decimal("1000.00"),
            Decimal("120.50"),
            Decimal("0.00"),
            Decimal("1120.50"),
        )
        assert row.oldest_unpaid_due_date == date(2025, 12, 1)
        assert row.last_payment_date == date(2025, 11, 15)
        assert row.last_payment_amount == Decimal("250.00")
        assert row.birth_date == date(1931, 8, 20)
        assert (row.national_id_type, row.national_id) == ("CURP", CURP)
        assert (row.first_names, row.last_names) == ("Juan", "Pérez López")

    def test_phones_become_e164_and_emails_lower_case(self):
        row = accepted(with_debtor(phones=["55 1234 5678", "(33) 1234-5678", "+52 81 1234 5678"]))
        phones = [c.value for c in row.contacts if c.kind == "phone"]
        assert phones == ["+525512345678", "+523312345678", "+528112345678"]
        emails = [c.value for c in row.contacts if c.kind == "email"]
        assert emails == ["juan.perez@example.mx"]

    def test_reference_and_guarantor_phones_become_e164(self):
        row = accepted(base_row())
        reference, guarantor = row.parties
        assert reference.kind == "reference"
        assert [c.value for c in reference.contacts] == ["+523312345678"]
        assert guarantor.kind == "guarantor"
        assert (guarantor.national_id_type, guarantor.national_id) == ("RFC", RFC)
        assert [c.value for c in guarantor.contacts] == ["+528112345678"]

    @pytest.mark.parametrize(
        ("state", "zone"),
        [
            ("Sonora", "America/Hermosillo"),
            ("Quintana Roo", "America/Cancun"),
            ("Baja California", "America/Tijuana"),
            ("BAJA  CALIFORNIA", "America/Tijuana"),
            ("Baja California Sur", "America/Mazatlan"),
            ("Ciudad de México", "America/Mexico_City"),
            ("CDMX", "America/Mexico_City"),
            ("Yucatán", "America/Merida"),
        ],
    )
    def test_time_zone_comes_from_the_state(self, state, zone):
        row = accepted(with_address(state=state))
        [address] = [c for c in row.contacts if c.kind == "address"]
        assert address.time_zone == zone
        assert address.state == state.strip()

    def test_unknown_state_has_no_time_zone(self):
        row = accepted(with_address(state="Atlántida"))
        [address] = [c for c in row.contacts if c.kind == "address"]
        assert address.time_zone is None

    def test_coordinates_are_kept_to_six_decimals(self):
        row = accepted(with_address(latitude="19.4326077", longitude="-99.133208"))
        [address] = [c for c in row.contacts if c.kind == "address"]
        assert address.latitude == Decimal("19.432608")
        assert address.longitude == Decimal("-99.133208")

    def test_defaults_for_optional_amounts(self):
        raw = base_row()
        del raw["original_amount"]
        del raw["past_due_amount"]
        row = accepted(raw)
        assert row.original_amount == row.total
        assert row.past_due_amount == Decimal("0.00")

    def test_json_numbers_are_accepted_as_amounts(self):
        row = accepted(
            base_row(principal=1000, interest=Decimal("120.5"), fees=0, total=Decimal("1120.50"))
        )
        assert row.total == Decimal("1120.50")


# ---------------------------------------------------------------------------------------
# The content hash


def _hash(raw: dict[str, Any]) -> str:
    return accepted(raw).content_hash


cents = st.integers(min_value=0, max_value=10**11).map(lambda c: Decimal(c).scaleb(-2))


def priced(principal: Decimal, interest: Decimal, fees: Decimal, **more: Any) -> dict[str, Any]:
    return base_row(
        principal=str(principal),
        interest=str(interest),
        fees=str(fees),
        total=str(principal + interest + fees),
        past_due_amount="0.00",
        **more,
    )


class TestContentHash:
    def test_the_hash_is_keyed_so_it_cannot_be_recomputed_from_a_guessed_id(self):
        import dataclasses

        keyed = dataclasses.replace(CONTEXT, fingerprint_key=b"k" * 32)
        other = dataclasses.replace(CONTEXT, fingerprint_key=b"j" * 32)
        first, again, elsewhere = (
            validate_row(2, base_row(), context) for context in (keyed, keyed, other)
        )
        assert isinstance(first, AccountRow) and isinstance(again, AccountRow)
        assert isinstance(elsewhere, AccountRow)
        assert first.content_hash == again.content_hash != elsewhere.content_hash
        assert first.content_hash != _hash(base_row())  # the suite's unkeyed context

    def test_equal_rows_have_equal_hashes(self):
        assert _hash(base_row()) == _hash(copy.deepcopy(base_row()))

    def test_the_row_number_is_not_part_of_the_hash(self):
        first = validate_row(2, base_row(), CONTEXT)
        second = validate_row(9000, base_row(), CONTEXT)
        assert isinstance(first, AccountRow) and isinstance(second, AccountRow)
        assert first.content_hash == second.content_hash

    def test_the_same_values_written_differently_hash_the_same(self):
        written_differently = base_row(
            principal="1000",
            interest="120.5",
            fees="0.00",
            currency="mxn",
            product_type="REVOLVING",
            debtor={
                **base_row()["debtor"],
                "national_id": CURP.lower(),
                "phones": ["5512345678"],
                "emails": ["juan.perez@example.mx"],
            },
        )
        assert _hash(written_differently) == _hash(base_row())

    @pytest.mark.parametrize(
        "change",
        [
            {"past_due_amount": "300.01"},
            {"original_amount": "5000.01"},
            {"oldest_unpaid_due_date": "2025-12-02"},
            {"last_payment_date": "2025-11-16"},
            {"last_payment_amount": "250.01"},
            {"product_type": "installment"},
            {"external_ref": "TC-0002"},
        ],
    )
    def test_any_account_field_changes_the_hash(self, change):
        assert _hash(base_row(**change)) != _hash(base_row())

    @pytest.mark.parametrize(
        "change",
        [
            {"phones": ["55 1234 5679"]},
            {"phones": ["55 1234 5678", "33 1234 5678"]},
            {"emails": ["otro@example.mx"]},
            {"emails": []},
            {"first_names": "Juana"},
            {"birth_date": "1931-08-21"},
        ],
    )
    def test_any_debtor_contact_change_changes_the_hash(self, change):
        assert _hash(with_debtor(**change)) != _hash(base_row())

    @pytest.mark.parametrize(
        "change",
        [
            {"line": "Av. Reforma 2, Centro"},
            {"postal_code": "83001"},
            {"latitude": "29.072968"},
            {"state": "Sinaloa"},
        ],
    )
    def test_any_address_change_changes_the_hash(self, change):
        assert _hash(with_address(**change)) != _hash(base_row())

    def test_reference_and_guarantor_changes_change_the_hash(self):
        raw = base_row()
        other_phone = base_row(references=[{**raw["references"][0], "phones": ["3312345679"]}])
        no_guarantor = base_row(guarantors=[])
        assert len({_hash(raw), _hash(other_phone), _hash(no_guarantor)}) == 3

    @settings(max_examples=150, deadline=None)
    @given(
        principal=cents,
        interest=cents,
        fees=cents,
        which=st.sampled_from(["principal", "interest", "fees"]),
    )
    def test_any_balance_change_changes_the_hash(self, principal, interest, fees, which):
        before = {"principal": principal, "interest": interest, "fees": fees}
        after = {**before, which: before[which] + Decimal("0.01")}
        same = _hash(priced(**before))
        assert same == _hash(priced(**before))
        assert _hash(priced(**after)) != same

    @settings(max_examples=100, deadline=None)
    @given(principal=cents, interest=cents, fees=cents)
    def test_moving_a_cent_between_balances_changes_the_hash(self, principal, interest, fees):
        if principal == 0:
            principal = Decimal("0.01")
        moved = _hash(priced(principal - Decimal("0.01"), interest + Decimal("0.01"), fees))
        assert moved != _hash(priced(principal, interest, fees))


# ---------------------------------------------------------------------------------------
# The total must add up


class TestTotalProperty:
    @settings(max_examples=200, deadline=None)
    @given(principal=cents, interest=cents, fees=cents)
    def test_total_equal_to_the_sum_is_accepted_and_a_cent_more_is_not(
        self, principal, interest, fees
    ):
        total = principal + interest + fees
        row = accepted(priced(principal, interest, fees))
        assert row.total == total
        off = priced(principal, interest, fees)
        off["total"] = str(total + Decimal("0.01"))
        errors = errors_of(off)
        assert [e.field for e in errors] == ["total"]

    @settings(max_examples=100, deadline=None)
    @given(
        amount=st.decimals(
            min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False
        )
    )
    def test_amounts_with_a_third_decimal_are_refused(self, amount):
        text = f"{amount:.3f}"
        has_third = text[-1] != "0"
        raw = base_row(fees=text, total=text, principal="0", interest="0", past_due_amount="0")
        result = validate_row(1, raw, CONTEXT)
        if has_third:
            assert isinstance(result, list)
            assert "fees" in {e.field for e in result}
        else:
            assert isinstance(result, AccountRow)


# ---------------------------------------------------------------------------------------
# Flat rows (CSV and Excel)


def flat(**cells: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = dict.fromkeys(CSV_COLUMNS)
    row.update(
        external_ref="TC-0001",
        product_type="revolving",
        currency="MXN",
        principal="1000.00",
        interest="120.50",
        fees="0",
        total="1120.50",
        debtor_first_names="Juan",
        debtor_last_names="Pérez López",
        debtor_national_id_type="CURP",
        debtor_national_id=CURP,
    )
    row.update(cells)
    return row


class TestNestFlatRow:
    def test_phones_and_emails_split_on_the_bar(self):
        nested = nest_flat_row(
            flat(
                debtor_phones="55 1234 5678| 33 1234 5678 ||",
                debtor_emails="a@example.mx|B@example.mx",
            )
        )
        assert nested["debtor"]["phones"] == ["55 1234 5678", "33 1234 5678"]
        assert nested["debtor"]["emails"] == ["a@example.mx", "B@example.mx"]
        row = accepted(nested)
        assert [c.value for c in row.contacts if c.kind == "phone"] == [
            "+525512345678",
            "+523312345678",
        ]

    def test_empty_cells_give_no_contacts_references_or_guarantors(self):
        nested = nest_flat_row(flat())
        assert nested["debtor"]["phones"] == []
        assert nested["debtor"]["emails"] == []
        assert nested["debtor"]["addresses"] == []
        assert nested["references"] == []
        assert nested["guarantors"] == []
        assert accepted(nested).contacts == ()

    def test_address_references_and_guarantors_are_nested(self):
        nested = nest_flat_row(
            flat(
                address_line="Av. Reforma 1",
                address_state="Quintana Roo",
                address_postal_code="77500",
                reference2_name="Ana Pérez",
                reference2_phones="3312345678|8112345678",
                guarantor1_name="Luis Gómez",
                guarantor1_national_id_type="RFC",
                guarantor1_national_id=RFC,
                guarantor1_address_line="Calle 2",
                guarantor1_address_state="Sonora",
            )
        )
        assert nested["debtor"]["addresses"][0]["state"] == "Quintana Roo"
        assert nested["references"] == [
            {
                "full_name": "Ana Pérez",
                "relationship": None,
                "phones": ["3312345678", "8112345678"],
            }
        ]
        [guarantor] = nested["guarantors"]
        assert guarantor["national_id"] == RFC
        assert guarantor["addresses"][0]["line"] == "Calle 2"
        row = accepted(nested)
        [address] = [c for c in row.contacts if c.kind == "address"]
        assert address.time_zone == "America/Cancun"
        guarantor_party = next(p for p in row.parties if p.kind == "guarantor")
        [guarantor_address] = [c for c in guarantor_party.contacts if c.kind == "address"]
        assert guarantor_address.time_zone == "America/Hermosillo"

    def test_a_reference_given_by_phone_only_is_reported_not_dropped(self):
        nested = nest_flat_row(flat(reference1_phones="3312345678"))
        assert "required" in only_error(nested, "references[0].full_name")

    @pytest.mark.parametrize(
        "cells",
        [{"guarantor1_phones": "8112345678"}, {"guarantor2_address_line": "Calle 2"}],
        ids=["phones", "address"],
    )
    def test_a_guarantor_given_without_a_name_is_reported_not_dropped(self, cells):
        # Like a reference given by phone only: what the partner sent must not vanish.
        nested = nest_flat_row(flat(**cells))
        assert len(nested["guarantors"]) == 1
        errors = errors_of(nested)
        assert any(e.field.endswith(".full_name") and "required" in e.message for e in errors)

    def test_a_flat_row_and_the_same_json_row_hash_the_same(self):
        nested = nest_flat_row(flat(debtor_phones="55 1234 5678"))
        json_row = {
            "external_ref": "TC-0001",
            "product_type": "revolving",
            "currency": "MXN",
            "principal": "1000.00",
            "interest": "120.50",
            "fees": "0",
            "total": "1120.50",
            "debtor": {
                "first_names": "Juan",
                "last_names": "Pérez López",
                "national_id_type": "CURP",
                "national_id": CURP,
                "phones": ["5512345678"],
            },
        }
        assert _hash(nested) == _hash(json_row)


class TestCheckHeader:
    def test_the_documented_header_passes(self):
        assert check_header(list(CSV_COLUMNS)) == []
        assert check_header(sorted(REQUIRED_COLUMNS)) == []

    def test_unknown_column(self):
        header = [*sorted(REQUIRED_COLUMNS), "nickname"]
        errors = check_header(header)
        assert [(e.field, e.message) for e in errors] == [
            (f"column {len(header)}", "unknown column 'nickname'")
        ]

    def test_duplicate_column(self):
        header = [*sorted(REQUIRED_COLUMNS), "principal"]
        [error] = check_header(header)
        assert error.field == f"column {len(header)}"
        assert "principal" in error.message and "twice" in error.message

    def test_missing_required_columns(self):
        header = [c for c in sorted(REQUIRED_COLUMNS) if c not in ("total", "debtor_national_id")]
        errors = check_header(header)
        assert {e.field for e in errors} == {"total", "debtor_national_id"}
        assert all("missing" in e.message for e in errors)

    def test_all_problems_at_once(self):
        header = ["external_ref", "external_ref", "Principal"]
        errors = check_header(header)
        by_field = {e.field: e.message for e in errors}
        assert "twice" in by_field["column 2"]
        assert "unknown" in by_field["column 3"]
        assert REQUIRED_COLUMNS - {"external_ref"} <= set(by_field)

    def test_a_long_unknown_name_is_cut(self):
        [error, *_] = check_header(["x" * 500])
        assert len(error.message) < 200
