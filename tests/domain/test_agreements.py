"""The payment agreement's text: its folio, how it writes money and dates, what it states,
and that any name can be drawn with the PDF's latin-1 fonts."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from app.domain.agreements import (
    AgreementFacts,
    AgreementInstallment,
    PaymentAccount,
    agreement_text,
    breaking_rule_text,
    creditor_code,
    folio,
    format_date,
    format_money,
    locale_of,
    printable,
)
from app.domain.money import MAX_INTEGER_DIGITS
from app.domain.partners import check_clabe, clabe_check_digit
from app.services.agreements import draw, facts_from_json, facts_to_json

PLAN_ID = uuid.UUID("01938a7e-1111-7abc-8def-3f9a1c7e2b5d")


def sample_facts(**overrides: object) -> AgreementFacts:
    """A settlement of 10,000 MXN at 30% off: 1,400 down, 5,600 in three installments."""
    fields: dict[str, object] = {
        "plan_id": PLAN_ID,
        "plan_type": "settlement",
        "country": "MX",
        "currency": "MXN",
        "signed_at": datetime(2026, 12, 5, 17, 30, tzinfo=UTC),
        "signed_on": date(2026, 12, 5),
        "creditor_legal_name": "Banco Ejemplo, S.A. de C.V.",
        "creditor_tax_id": "BEJ850101AB1",
        "agency_legal_name": "Despacho Demostración de Cobranza, S.C.",
        "agency_redeco_number": "DEMO-0000",
        "debtor_name": "José Núñez Peña",
        "debtor_national_id_masked": "****5678",
        "account_ref": "ACC-0001",
        "payment_reference": "000000012345",
        "covered_debt": Decimal("10000.00"),
        "forgiven": Decimal("3000.00"),
        "interest_total": Decimal("0.00"),
        "agreed_total": Decimal("7000.00"),
        "down_payment": Decimal("1400.00"),
        "obligations": (
            AgreementInstallment(0, date(2026, 12, 8), Decimal("1400.00")),
            AgreementInstallment(1, date(2027, 1, 8), Decimal("1866.67")),
            AgreementInstallment(2, date(2027, 2, 8), Decimal("1866.67")),
            AgreementInstallment(3, date(2027, 3, 8), Decimal("1866.66")),
        ),
        "missed_installments_to_break": 2,
        "days_late_to_break": 30,
        "payment_account": PaymentAccount("BBVA México", "032180000118359719", None, "OXXO"),
    }
    return AgreementFacts(**(fields | overrides))  # type: ignore[arg-type]


def whole_text(facts: AgreementFacts) -> str:
    text = agreement_text(facts)
    parts = [text.title, *text.subtitle]
    for section in text.sections:
        parts.append(section.heading)
        parts.extend(section.paragraphs)
        if section.table is not None:
            parts.extend(" | ".join(row) for row in (section.table.header, *section.table.rows))
    parts.extend(f"{name} ({role})" for name, role in text.signatures)
    return "\n".join(parts)


class TestFormatMoney:
    @pytest.mark.parametrize(
        ("amount", "currency", "country", "expected"),
        [
            ("1234.50", "MXN", "MX", "$1,234.50 MXN"),
            ("0.05", "MXN", "MX", "$0.05 MXN"),
            ("1234567.00", "MXN", "MX", "$1,234,567.00 MXN"),
            ("1234.50", "COP", "CO", "$1.234,50 COP"),  # CLDR would round COP to pesos
            ("1234", "CLP", "CL", "$1.234 CLP"),
            ("1234.50", "PEN", "PE", "S/1,234.50 PEN"),
            ("-20.00", "MXN", "MX", "-$20.00 MXN"),
        ],
    )
    def test_as_the_partners_country_writes_it(self, amount, currency, country, expected):
        assert format_money(Decimal(amount), currency, locale_of(country)) == expected

    def test_a_currency_without_a_local_symbol_is_written_by_its_code(self):
        assert format_money(Decimal("5"), "USD", "es_MX") == "5.00 USD"

    def test_more_decimals_than_the_currency_has_is_refused_never_rounded(self):
        with pytest.raises(ValueError, match="more decimals"):
            format_money(Decimal("1.005"), "MXN")
        with pytest.raises(ValueError, match="more decimals"):
            format_money(Decimal("1.5"), "CLP")

    @given(st.integers(min_value=0, max_value=10**MAX_INTEGER_DIGITS - 1))
    def test_an_mxn_amount_reads_back_exactly(self, cents: int) -> None:
        amount = Decimal(cents).scaleb(-2)
        written = format_money(amount, "MXN")
        assert re.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d\d MXN", written)
        assert Decimal(written[1:-4].replace(",", "")) == amount


class TestFormatDate:
    @pytest.mark.parametrize(
        ("day", "expected"),
        [
            (date(2026, 12, 5), "5 de diciembre de 2026"),
            (date(2027, 1, 31), "31 de enero de 2027"),
            (date(2027, 9, 1), "1 de septiembre de 2027"),
        ],
    )
    def test_in_spanish_words(self, day, expected):
        assert format_date(day) == expected

    @given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
    def test_every_date_names_its_day_month_and_year(self, day: date) -> None:
        written = format_date(day, locale_of("CO"))
        assert written.startswith(f"{day.day} de ")
        assert written.endswith(f" de {day.year}")

    def test_a_country_without_a_spanish_locale_falls_back_to_mexicos(self):
        assert locale_of("MX") == "es_MX"
        assert locale_of("CO") == "es_CO"
        assert locale_of("ZZ") == "es_MX"


class TestPrintable:
    def test_spanish_and_portuguese_letters_are_kept(self):
        text = "José Ñúñez Güemes, Conceição, ¿cuánto? ¡ya! ºª"
        assert printable(text) == text

    def test_what_latin1_lacks_is_replaced_not_an_error(self):
        assert printable("Ana 😀 李") == "Ana ? ?"
        assert printable("Şahin Łukasz") == "Sahin Lukasz"
        assert printable("“hola” – adiós…") == '"hola" - adiós...'
        assert printable("a\u200bb\u202ec\x00d") == "abcd"
        # Decomposed accents are composed first; a stray one is dropped.
        assert printable("Jose\u0301 x\u0301") == "José x"

    @given(st.text())
    def test_anything_becomes_latin1(self, text: str) -> None:
        printable(text).encode("latin-1")

    @given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
    def test_plain_ascii_is_unchanged(self, text: str) -> None:
        assert printable(text) == text


class TestFolio:
    @pytest.mark.parametrize(
        ("legal_name", "code"),
        [
            ("Banco Ejemplo, S.A. de C.V.", "BE"),
            ("Financiera Azteca, S.A. de C.V., SOFOM, E.R.", "FA"),
            ("Tiendas de la Ciudad y Servicios Financieros", "TCSF"),
            ("Coppel", "COP"),
            ("Crédito Ágil S.A.P.I. de C.V.", "CA"),
            ("李银行", "ACR"),
        ],
    )
    def test_the_creditors_initials_without_legal_forms(self, legal_name, code):
        assert creditor_code(legal_name) == code

    @given(st.text())
    def test_any_name_gives_a_short_ascii_code(self, legal_name: str) -> None:
        assert re.fullmatch(r"[A-Z0-9]{1,4}", creditor_code(legal_name))

    def test_creditor_year_and_the_plan(self):
        assert folio("Banco Ejemplo, S.A. de C.V.", date(2026, 12, 5), PLAN_ID) == (
            "CONV-BE-2026-9A1C7E2B5D"
        )

    @given(st.uuids(), st.dates(min_value=date(2000, 1, 1)), st.text(max_size=200))
    def test_a_function_of_the_plan_and_safe_in_a_file_name(self, plan_id, signed_on, name):
        made = folio(name, signed_on, plan_id)
        assert made == folio(name, signed_on, plan_id)
        assert re.fullmatch(r"CONV-[A-Z0-9]{1,4}-\d{4}-[0-9A-F]{10}", made)
        assert made.endswith(plan_id.hex[-10:].upper())


class TestClabe:
    @pytest.mark.parametrize("clabe", ["032180000118359719", "002010077777777771"])
    def test_known_clabes_pass(self, clabe):
        assert check_clabe(clabe) == clabe
        assert check_clabe(f"{clabe[:3]} {clabe[3:6]} {clabe[6:]}") == clabe

    @given(st.text("0123456789", min_size=17, max_size=17), st.integers(0, 16), st.integers(1, 9))
    def test_one_mistyped_digit_is_caught(self, first17: str, position: int, shift: int) -> None:
        clabe = first17 + str(clabe_check_digit(first17))
        assert check_clabe(clabe) == clabe
        typo = clabe[:position] + str((int(clabe[position]) + shift) % 10) + clabe[position + 1 :]
        with pytest.raises(ValueError, match="check digit"):
            check_clabe(typo)

    def test_not_eighteen_digits(self):
        with pytest.raises(ValueError, match="18 digits"):
            check_clabe("03218000011835971")


class TestAgreementText:
    def test_states_everything_the_debtor_needs(self):
        text = whole_text(sample_facts())
        for expected in (
            "CONVENIO DE PAGO",
            "Folio: CONV-BE-2026-9A1C7E2B5D",
            "Acreedor: Banco Ejemplo, S.A. de C.V., RFC BEJ850101AB1.",
            "Despacho Demostración de Cobranza, S.C.",
            "Registro de Despachos de Cobranza (REDECO) de la CONDUSEF con el número DEMO-0000",
            "Deudor: José Núñez Peña, identificación ****5678.",
            "Adeudo que cubre este convenio: $10,000.00 MXN.",
            "Descuento (quita) que otorga el acreedor: $3,000.00 MXN.",
            "Total a pagar: $7,000.00 MXN.",
            "Pago inicial (enganche): $1,400.00 MXN, a más tardar el 8 de diciembre de 2026.",
            "Enganche | 8 de diciembre de 2026 | $1,400.00 MXN",
            "1 | 8 de enero de 2027 | $1,866.67 MXN",
            "2 | 8 de febrero de 2027 | $1,866.67 MXN",
            "3 | 8 de marzo de 2027 | $1,866.66 MXN",
            "Referencia de pago de su cuenta: 000000012345.",
            "CLABE 032180000118359719 de BBVA México, a nombre de Banco Ejemplo, S.A. de C.V.",
            "En efectivo en OXXO, dando la referencia 000000012345",
            "nunca a la agencia de cobranza",
            "quedan sin pagar 2 parcialidades vencidas",
            "más de 30 días de atraso",
            "el descuento (quita) deja de aplicar",
            "Fecha de firma: 5 de diciembre de 2026.",
            "José Núñez Peña (El deudor)",
        ):
            assert expected in text, expected

    def test_a_regularization_says_the_contract_goes_on(self):
        facts = sample_facts(
            plan_type="regularization",
            covered_debt=Decimal("7000.00"),
            forgiven=Decimal("0.00"),
            down_payment=Decimal("0.00"),
            obligations=sample_facts().obligations[1:],
            payment_account=PaymentAccount(),
        )
        text = whole_text(facts)
        assert "Adeudo vencido que regulariza este convenio: $7,000.00 MXN" in text
        assert "el resto del contrato sigue en sus términos" in text
        assert "Descuento (quita): no hay." in text
        assert "Pago inicial (enganche): no hay." in text
        assert "quita) deja de aplicar" not in text
        # No bank on file: the creditor's accounts, never the agency's.
        assert "En las cuentas de Banco Ejemplo, S.A. de C.V. que el acreedor le indique" in text

    def test_outside_mexico_the_agency_has_no_redeco_number(self):
        facts = sample_facts(country="CO", currency="COP", creditor_tax_id="900123456")
        text = whole_text(facts)
        assert "REDECO" not in text
        assert "Agencia de cobranza: Despacho Demostración de Cobranza, S.C." in text
        assert "NIT 900123456" in text
        assert "$10.000,00 COP" in text

    @pytest.mark.parametrize(
        ("missed", "days", "expected"),
        [
            (1, 15, "si queda sin pagar una parcialidad vencida"),
            (3, 1, "quedan sin pagar 3 parcialidades vencidas"),
            (3, 1, "más de 1 día de atraso"),
        ],
    )
    def test_the_breaking_rule(self, missed, days, expected):
        assert expected in breaking_rule_text(missed, days)


class TestDrawing:
    def test_facts_survive_their_json(self):
        facts = sample_facts()
        assert facts_from_json(facts_to_json(facts)) == facts

    def test_the_same_facts_give_the_same_bytes(self):
        assert draw(sample_facts()) == draw(facts_from_json(facts_to_json(sample_facts())))

    def test_any_name_is_drawn(self):
        pdf = draw(sample_facts(debtor_name="王小明 😀 Ñandú", creditor_legal_name="Ω Bank ☃"))
        assert pdf.startswith(b"%PDF-")

    def test_the_drawing_is_pinned(self):
        # Issued agreements are drawn again on every download from their stored facts and
        # must keep their bytes. When fpdf2, Babel or the layout change, this fails: issued
        # agreements would change too (their downloads log the mismatch). Change it only
        # knowingly.
        digest = hashlib.sha256(draw(sample_facts())).hexdigest()
        assert digest == PINNED_SHA256


# fpdf2 2.8.9, Babel 2.19.0 (constraints.txt).
PINNED_SHA256 = "6ebae5cebd9565a6358a5e030b8967f2458fe1980f0b93897624bf619d15e42a"


class TestLanguageOfTheCountry:
    """The agreement is a contract the debtor signs: it is written in the language of the
    partner's country, whoever prints it (no Accept-Language of a staff member's)."""

    def test_a_brazilian_agreement_is_in_portuguese_with_brazilian_numbers(self):
        text = whole_text(sample_facts(country="BR", currency="BRL", agency_redeco_number=None))
        assert "ACORDO DE PAGAMENTO" in text
        assert "Quitação com desconto" in text
        assert "Desconto concedido pelo credor: R$3.000,00 BRL." in text
        assert "8 de dezembro de 2026" in text
        assert "O acordo será considerado descumprido se 2 parcelas vencidas" in text
        for spanish in ("CONVENIO", "Deudor", "Acreedor", "parcialidad", "Enganche", "quita"):
            assert spanish not in text

    def test_a_united_states_agreement_is_in_english(self):
        text = whole_text(sample_facts(country="US", currency="USD", agency_redeco_number=None))
        assert "PAYMENT AGREEMENT" in text
        assert "Discount granted by the creditor: $3,000.00 USD." in text
        assert "December 8, 2026" in text
        for spanish in ("CONVENIO", "Deudor", "parcialidad", "Enganche"):
            assert spanish not in text

    @pytest.mark.parametrize("country", ["MX", "CO", "PE", "CL"])
    def test_spanish_speaking_countries_get_spanish(self, country):
        text = whole_text(sample_facts(country=country))
        assert "CONVENIO DE PAGO" in text
        assert "Deudor: José Núñez Peña" in text
        assert "Debtor" not in text and "Devedor" not in text

    def test_the_portuguese_pdf_draws_with_its_accents(self):
        facts = sample_facts(country="BR", currency="BRL", agency_redeco_number=None)
        pdf = draw(facts)
        words = "".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
        assert "CALENDÁRIO DE PAGAMENTOS" in words
        assert "Quitação" in words
