"""The file kit's domain: column definitions, example rows every kind's rules accept, the
column table, and amounts written with a decimal comma."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import assignments, payment_files, spei_files
from app.domain.assignments import IntakeContext, nest_flat_row, validate_row
from app.domain.file_kit import ColumnKind, description_rows, markdown_table
from app.domain.identity import COUNTRY_CURRENCY, Country
from app.domain.money import MoneyFormatError, parse_money
from app.domain.payment_files import FileContext, PaymentLine

# Any day after the examples' dates (they are fixed, in the past).
TODAY = date(2026, 1, 1)
KINDS = {
    "assignments": assignments.FILE_COLUMNS,
    "payments": payment_files.FILE_COLUMNS,
    "spei": spei_files.FILE_COLUMNS,
}


def flat(row: dict[str, str]) -> dict[str, str | None]:
    return {name: (row.get(name) or None) for name in assignments.CSV_COLUMNS}


@pytest.mark.parametrize("country", list(Country), ids=lambda c: c.value)
def test_the_assignment_examples_are_accepted_in_every_country(country):
    currency = COUNTRY_CURRENCY[country]
    context = IntakeContext(country, currency, TODAY)
    for number, row in enumerate(assignments.example_rows(country, currency), start=2):
        result = validate_row(number, nest_flat_row(flat(row)), context)
        assert not isinstance(result, list), [(e.field, e.message) for e in result]
        assert result.currency == currency


@pytest.mark.parametrize("currency", ["MXN", "CLP"])
def test_the_payment_and_spei_examples_are_read(currency):
    context = FileContext(Country.MX, currency, TODAY)
    for reader, rows in (
        (payment_files.read_line, payment_files.example_rows(currency)),
        (spei_files.read_line, spei_files.example_rows(currency)),
    ):
        for number, row in enumerate(rows, start=2):
            assert isinstance(reader(number, row, context), PaymentLine)


def test_examples_have_the_currency_s_decimals():
    assert payment_files.example_rows("MXN")[0]["amount"] == "1500.00"
    assert payment_files.example_rows("CLP")[0]["amount"] == "150000"


def test_the_columns_are_the_ones_the_header_check_accepts():
    assert assignments.check_header(list(assignments.CSV_COLUMNS)) == []
    assert payment_files.check_file_header(list(payment_files.COLUMNS)) == []
    assert spei_files.check_file_header(list(spei_files.COLUMNS)) == []
    assert {"principal", "interest", "fees", "total"} <= assignments.AMOUNT_COLUMNS
    assert {"amount"} == payment_files.AMOUNT_COLUMNS
    assert "latitude" not in "".join(assignments.AMOUNT_COLUMNS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_column_has_a_meaning_in_every_language(kind):
    for language in ("es", "pt-BR"):
        english = description_rows(KINDS[kind], {}, "en")
        shown = description_rows(KINDS[kind], {}, language)
        for (name, *english_cells), (same, *cells) in zip(english, shown, strict=True):
            assert name == same
            # Format and meaning are translated (an example is data, not text).
            assert cells[1] != english_cells[1], (language, name)
            assert cells[3] != english_cells[3], (language, name)


def test_the_markdown_table_has_a_line_per_column_with_the_example():
    table = markdown_table(payment_files.FILE_COLUMNS, {"amount": "12.50", "channel": "a|b"})
    lines = table.splitlines()
    assert len(lines) == 2 + len(payment_files.COLUMNS)
    amount = next(line for line in lines if line.startswith("| `amount`"))
    assert "| yes |" in amount and "`12.50`" in amount
    # A pipe in a cell does not split it.
    assert "`a\\|b`" in table


def test_choice_columns_list_their_choices():
    product = next(c for c in assignments.FILE_COLUMNS if c.name == "product_type")
    assert product.kind is ColumnKind.CHOICE
    assert str(product.format_text) == "one of: revolving, installment, single_payment"


class TestDecimalComma:
    @pytest.mark.parametrize(
        ("written", "amount"),
        [
            ("1234,56", "1234.56"),
            ("1.234,56", "1234.56"),
            ("12.345.678,9", "12345678.9"),
            ("0,5", "0.5"),
            ("1234", "1234"),
            ("1234.56", "1234.56"),  # a point decimal is still read as written
            ("12.50", "12.50"),
        ],
    )
    def test_amounts_with_a_decimal_comma(self, written, amount):
        assert parse_money(written, decimal_comma=True) == Decimal(amount)

    @pytest.mark.parametrize(
        ("written", "code"),
        [
            ("1.000", "money_ambiguous"),
            ("12.345.678", "money_ambiguous"),
            ("1,234.56", "money_format"),
            ("12.34,5", "money_format"),
            ("1,2,3", "money_format"),
            ("-1,50", "money_format"),
            (",50", "money_format"),
        ],
    )
    def test_what_a_decimal_comma_file_refuses(self, written, code):
        with pytest.raises(MoneyFormatError) as refused:
            parse_money(written, decimal_comma=True)
        assert refused.value.code == code

    @pytest.mark.parametrize("written", ["1234,56", "1.234,56", "0,5"])
    def test_without_decimal_comma_a_comma_is_refused(self, written):
        with pytest.raises(MoneyFormatError) as refused:
            parse_money(written)
        assert refused.value.code == "money_format"

    @given(
        st.decimals(min_value=0, max_value=Decimal("9999999999999999.99"), places=2),
        st.booleans(),
    )
    def test_any_amount_written_the_spanish_way_reads_back(self, amount, grouped):
        whole, fraction = f"{abs(amount):.2f}".split(".")
        if grouped:
            whole = f"{int(whole):,}".replace(",", ".")
        assert parse_money(f"{whole},{fraction}", decimal_comma=True) == amount
