"""The money reader and the currencies' minor units (app/domain/money.py), and the API's
money type built on them (app/schemas/common.py)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.domain.money import (
    MAX_FRACTION_DIGITS,
    MAX_INTEGER_DIGITS,
    MINOR_UNITS,
    MONEY_PATTERN,
    MoneyFormatError,
    fits_minor_unit,
    minor_unit,
    parse_money,
    round_money,
    too_many_decimals,
)
from app.schemas.common import Money, PositiveMoney

# ISO 4217's exponents, as the standard's table lists them (babel is not a dependency).
ISO_4217 = {"MXN": 2, "COP": 2, "PEN": 2, "CLP": 0, "BRL": 2, "USD": 2}

BAD_TEXTS = [
    "\uff19\uff19",  # full-width ９９
    "\u0661\u0662\u0663",  # Arabic-Indic ١٢٣
    "\u096f",  # Devanagari ९
    "1e3",
    "1E3",
    "1.5e2",
    "1,000.00",
    "1_000",
    "1 000",
    " 5",
    "5 ",
    "5\n",
    "\t5",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "+5",
    "-5",
    "-0.01",
    "",
    ".",
    ".5",
    "5.",
    "0x10",
    "1.2.3",
    "12345678901234567",  # 17 digits: more than NUMERIC(18, 2) holds
    "1.00001",
]


@st.composite
def amounts(draw, currency: str | None = None) -> tuple[str, Decimal]:
    places = MINOR_UNITS[currency] if currency else draw(st.integers(0, MAX_FRACTION_DIGITS))
    units = draw(st.integers(0, 10**MAX_INTEGER_DIGITS * 10**places - 1))
    return currency or "", Decimal(units).scaleb(-places)


class TestParse:
    @given(amounts())
    def test_every_amount_reads_back_from_its_text(self, drawn):
        _, amount = drawn
        text = f"{amount:f}"
        assert parse_money(text) == amount
        assert str(parse_money(text)) == text

    @given(st.sampled_from(sorted(MINOR_UNITS)).flatmap(lambda c: amounts(c)))
    def test_an_amount_with_its_currencys_decimals_reads_back_and_fits(self, drawn):
        currency, amount = drawn
        read = parse_money(f"{amount:f}")
        assert read == amount
        assert fits_minor_unit(read, currency)
        assert round_money(read, currency) == read

    @pytest.mark.parametrize("text", BAD_TEXTS)
    def test_what_is_not_an_amount_is_refused(self, text):
        with pytest.raises(MoneyFormatError):
            parse_money(text)

    @given(st.text(max_size=24))
    def test_the_pattern_states_exactly_what_is_read(self, text):
        try:
            parse_money(text)
        except MoneyFormatError:
            read = False
        else:
            read = True
        assert bool(re.fullmatch(MONEY_PATTERN.strip("^$"), text)) == read

    @pytest.mark.parametrize(
        ("text", "code"),
        [("-5", "money_negative"), ("1.00001", "money_too_many_decimals"),
         ("12345678901234567", "money_too_large"), ("1e3", "money_format"),
         ("\uff19\uff19", "money_format")],
    )  # fmt: skip
    def test_the_reason_is_named(self, text, code):
        with pytest.raises(MoneyFormatError) as caught:
            parse_money(text)
        assert caught.value.code == code


class TestMinorUnits:
    def test_the_table_is_iso_4217s(self):
        assert MINOR_UNITS == ISO_4217

    @pytest.mark.parametrize(
        ("amount", "currency", "fits"),
        [("1000.50", "MXN", True), ("1.001", "MXN", False), ("1000.5", "CLP", False),
         ("1000", "CLP", True), ("1000.00", "CLP", True), ("1.01", "XXX", True),
         ("1.001", "XXX", False)],
    )  # fmt: skip
    def test_fits(self, amount, currency, fits):
        assert fits_minor_unit(Decimal(amount), currency) is fits

    def test_the_reason_names_the_currency(self):
        clp = str(too_many_decimals("CLP"))
        assert "CLP" in clp and "no decimals" in clp
        assert "MXN" in str(too_many_decimals("MXN"))
        assert too_many_decimals("CLP").render("es") == (
            "debe ser un importe entero: CLP no tiene decimales"
        )

    def test_minor_unit(self):
        assert (minor_unit("MXN"), minor_unit("CLP")) == (Decimal("0.01"), Decimal(1))


class TestMoneyType:
    @pytest.mark.parametrize("value", [*BAD_TEXTS, 99.5, 100, True, None, Decimal("1E+3")])
    def test_the_api_type_refuses_what_the_reader_refuses_and_json_numbers(self, value):
        with pytest.raises(ValidationError) as caught:
            TypeAdapter(Money).validate_python(value)
        assert caught.value.errors()[0]["type"].startswith("money_")

    def test_json_numbers_are_refused_from_json_text(self):
        for document in ("99.5", "100", "1e3"):
            with pytest.raises(ValidationError):
                TypeAdapter(Money).validate_json(document)
        assert TypeAdapter(Money).validate_json('"99.50"') == Decimal("99.50")

    def test_positive_money_refuses_zero(self):
        assert TypeAdapter(Money).validate_python("0") == 0
        with pytest.raises(ValidationError) as caught:
            TypeAdapter(PositiveMoney).validate_python("0.00")
        assert caught.value.errors()[0]["type"] == "money_not_positive"

    def test_the_contract_shows_a_string_with_the_readers_pattern(self):
        schema = TypeAdapter(Money).json_schema()
        assert (schema["type"], schema["pattern"]) == ("string", MONEY_PATTERN)
