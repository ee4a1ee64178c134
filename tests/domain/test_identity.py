"""National ids, tax ids and phones per country (``app.domain.identity``), and the stricter
rules for a partner's own tax id and contact phone (``app.domain.partners``).

Valid ids are built with python-stdnum's own check-digit functions rather than copied from
somewhere, so each test states which part of the id it breaks.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.br import cnpj
from stdnum.cl import rut
from stdnum.co import nit
from stdnum.mx import curp, rfc
from stdnum.pe import ruc

from app.domain.errors import InvalidInput
from app.domain.identity import (
    COMPANY_TAX_ID,
    COUNTRY_CURRENCY,
    ID_COUNTRY,
    Country,
    NationalIdType,
    mask,
    normalise_national_id,
    normalise_phone,
    normalise_tax_id,
)
from app.domain.partners import partner_phone, partner_tax_id

RFC_COMPANY_STEM = "WAL970924" + "4W"  # three letters, a date, a homoclave
RFC_PERSON_STEM = "GODE561231" + "GR"
CURP_STEM = "BOXW310820HNERXN0"
NIT_BASE = "900123456"
RUC_STEM = "2012345678"
RUT_BASE = "12345678"
CNPJ_STEM = "112223330001"


def complete(stem: str, module) -> str:
    return stem + module.calc_check_digit(stem)


def other_digit(value: str) -> str:
    """The same id with a different (wrong) last character."""
    return value[:-1] + ("1" if value[-1] != "1" else "2")


VALID: list[tuple[NationalIdType, str, str]] = [
    # (type, as written, normalised)
    (NationalIdType.RFC, complete(RFC_COMPANY_STEM, rfc).lower(), complete(RFC_COMPANY_STEM, rfc)),
    (NationalIdType.RFC, complete(RFC_PERSON_STEM, rfc), complete(RFC_PERSON_STEM, rfc)),
    (NationalIdType.RFC, "GODE561231", "GODE561231"),  # a person's stem, without homoclave
    (NationalIdType.CURP, complete(CURP_STEM, curp), complete(CURP_STEM, curp)),
    (NationalIdType.CC, "1.020.304.050", "1020304050"),
    (NationalIdType.NIT, nit.format(complete(NIT_BASE, nit)), complete(NIT_BASE, nit)),
    (NationalIdType.DNI, "12345678", "12345678"),
    (NationalIdType.RUC, complete(RUC_STEM, ruc), complete(RUC_STEM, ruc)),
    (
        NationalIdType.RUT,
        rut.format(complete(RUT_BASE, rut)),
        complete(RUT_BASE, rut),
    ),
    (NationalIdType.CPF, "123.456.789-09", "12345678909"),
    (
        NationalIdType.CNPJ,
        cnpj.format(CNPJ_STEM + cnpj.calc_check_digits(CNPJ_STEM)),
        CNPJ_STEM + cnpj.calc_check_digits(CNPJ_STEM),
    ),
    (NationalIdType.SSN, "536-90-4399", "536904399"),
    (NationalIdType.EIN, "04-1234567", "041234567"),
]

WRONG_CHECK_DIGIT: list[tuple[NationalIdType, str]] = [
    (NationalIdType.CURP, other_digit(complete(CURP_STEM, curp))),
    (NationalIdType.NIT, other_digit(complete(NIT_BASE, nit))),
    (NationalIdType.RUC, other_digit(complete(RUC_STEM, ruc))),
    (NationalIdType.RUT, other_digit(complete(RUT_BASE, rut))),
    (NationalIdType.CPF, "12345678900"),
    (NationalIdType.CNPJ, other_digit(CNPJ_STEM + cnpj.calc_check_digits(CNPJ_STEM))),
]

MALFORMED: list[tuple[NationalIdType, str]] = [
    (NationalIdType.RFC, "WAL9713244W4"),  # month 13
    (NationalIdType.RFC, "W4L9709244W4"),  # a digit among the letters
    (NationalIdType.RFC, "WAL97092"),
    (NationalIdType.CURP, "BOXW310820HNERXN"),
    (NationalIdType.CC, "12345"),
    (NationalIdType.CC, "12345678901"),
    (NationalIdType.CC, "12A456"),
    (NationalIdType.DNI, "1234567"),
    (NationalIdType.DNI, "１２３４５６７８"),  # full-width digits are not ASCII digits
    (NationalIdType.RUC, "3012345678" + "0"),  # neither a person nor a company
    (NationalIdType.CPF, "1234567890"),
    (NationalIdType.SSN, "000-12-3456"),
    (NationalIdType.EIN, "00-1234567"),  # no IRS campus 00
]


def _label(value: object) -> str:
    return str(value.value) if isinstance(value, NationalIdType) else str(value)


class TestNationalIds:
    @pytest.mark.parametrize(("id_type", "written", "normalised"), VALID, ids=_label)
    def test_valid_ids_are_compacted_and_upper_cased(self, id_type, written, normalised):
        assert normalise_national_id(id_type, f"  {written} ") == normalised

    @pytest.mark.parametrize(("id_type", "value"), WRONG_CHECK_DIGIT, ids=_label)
    def test_a_wrong_check_digit_is_named(self, id_type, value):
        with pytest.raises(ValueError, match=f"not a valid {id_type.value}: its check digit"):
            normalise_national_id(id_type, value)

    @pytest.mark.parametrize(("id_type", "value"), MALFORMED, ids=_label)
    def test_malformed_ids_are_refused_with_the_type_named(self, id_type, value):
        with pytest.raises(ValueError, match=f"^not a valid {id_type.value}: "):
            normalise_national_id(id_type, value)

    @pytest.mark.parametrize("id_type", list(NationalIdType), ids=_label)
    def test_overlong_input_is_refused_before_parsing(self, id_type):
        with pytest.raises(ValueError, match="too long"):
            normalise_national_id(id_type, "1" * 41)

    def test_every_id_type_belongs_to_a_country_and_each_country_has_a_company_id(self):
        assert set(ID_COUNTRY) == set(NationalIdType)
        assert set(COMPANY_TAX_ID) == set(Country) == set(COUNTRY_CURRENCY)
        for country, id_type in COMPANY_TAX_ID.items():
            assert ID_COUNTRY[id_type] is country

    @given(base=st.text(string.digits, min_size=9, max_size=9).filter(lambda s: s[0] != "0"))
    def test_any_nit_with_its_dian_check_digit_is_valid(self, base):
        value = complete(base, nit)
        assert normalise_tax_id(Country.CO, value) == value
        with pytest.raises(ValueError, match="check digit"):
            normalise_tax_id(Country.CO, other_digit(value))

    @given(base=st.integers(min_value=1_000_000, max_value=99_999_999).map(str))
    def test_any_rut_with_its_check_digit_is_valid_in_any_common_format(self, base):
        value = complete(base, rut)
        assert normalise_tax_id(Country.CL, rut.format(value)) == value
        assert normalise_tax_id(Country.CL, value.lower()) == value

    def test_tax_ids_follow_the_countrys_company_id(self):
        company_rfc = complete(RFC_COMPANY_STEM, rfc)
        assert normalise_tax_id(Country.MX, company_rfc) == company_rfc
        with pytest.raises(ValueError, match="not a valid NIT"):
            normalise_tax_id(Country.CO, company_rfc)
        with pytest.raises(ValueError, match="not a valid RUC"):
            normalise_tax_id(Country.PE, complete(NIT_BASE, nit))


company_rfc_stems = st.builds(
    lambda letters, yy, mm, dd, h1, h2: f"{letters}{yy:02d}{mm:02d}{dd:02d}{h1}{h2}",
    st.text(string.ascii_uppercase, min_size=3, max_size=3),
    st.integers(0, 99),
    st.integers(1, 12),
    st.integers(1, 28),
    st.sampled_from("123456789ABCDEFGHIJKLMNOPQRSTUV"),
    st.sampled_from("123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
)


class TestPartnerTaxId:
    @given(stem=company_rfc_stems)
    def test_any_company_rfc_with_its_check_digit_is_accepted(self, stem):
        value = complete(stem, rfc)
        assert partner_tax_id(Country.MX, value.lower(), "tax_id") == value

    @given(stem=company_rfc_stems)
    def test_a_company_rfc_with_a_wrong_check_digit_is_refused(self, stem):
        value = complete(stem, rfc)
        wrong = value[:-1] + ("A" if value[-1] != "A" else "0")
        with pytest.raises(InvalidInput) as raised:
            partner_tax_id(Country.MX, wrong, "tax_id")
        assert raised.value.field == "tax_id"
        assert raised.value.message == "not a valid RFC: its check digit is wrong"

    def test_a_person_in_business_may_be_a_partner_with_a_complete_rfc(self):
        value = complete(RFC_PERSON_STEM, rfc)
        assert partner_tax_id(Country.MX, value, "f") == value

    def test_an_rfc_stem_without_homoclave_is_not_a_registration(self):
        with pytest.raises(InvalidInput) as raised:
            partner_tax_id(Country.MX, "GODE561231", "tax_id")
        assert raised.value.field == "tax_id"
        assert "homoclave" in raised.value.message

    def test_other_countries_keep_the_general_rule_and_message(self):
        value = complete(NIT_BASE, nit)
        assert partner_tax_id(Country.CO, nit.format(value), "f") == value
        with pytest.raises(InvalidInput) as raised:
            partner_tax_id(Country.CO, other_digit(value), "tax_id")
        assert raised.value.message == "not a valid NIT: its check digit is wrong"


class TestPhones:
    @pytest.mark.parametrize(
        ("country", "written", "e164"),
        [
            (Country.MX, "55 1234 5678", "+525512345678"),
            (Country.MX, "+52 (33) 3615-0000", "+523336150000"),
            (Country.CO, "301 234 5678", "+573012345678"),
            (Country.PE, "987 654 321", "+51987654321"),
            (Country.CL, "9 6123 4567", "+56961234567"),
            (Country.BR, "(11) 91234-5678", "+5511912345678"),
            (Country.US, "(202) 456-1111", "+12024561111"),
            (Country.MX, "+57 301 234 5678", "+573012345678"),  # a foreign number, written so
        ],
        ids=lambda v: str(v),
    )
    def test_phones_are_stored_in_e164(self, country, written, e164):
        assert normalise_phone(written, country) == e164

    @pytest.mark.parametrize("written", ["123", "55 1234", "not a phone", "+52 0000000000"])
    def test_impossible_numbers_are_refused(self, written):
        with pytest.raises(ValueError, match="not a"):
            normalise_phone(written, Country.MX)

    def test_overlong_input_is_refused_before_parsing(self):
        with pytest.raises(ValueError, match="too long"):
            normalise_phone("5" * 41, Country.MX)

    def test_a_partners_phone_error_names_the_field(self):
        assert partner_phone(Country.MX, "5512345678", "f") == "+525512345678"
        with pytest.raises(InvalidInput) as raised:
            partner_phone(Country.CO, "123", "contact_phone")
        assert raised.value.field == "contact_phone"


class TestMask:
    def test_shows_only_the_last_four(self):
        assert mask("GODE561231GR8") == "****1GR8"
        assert mask("+525512345678") == "****5678"

    def test_a_short_value_shows_nothing(self):
        assert mask("1234") == "****"
        assert mask("") == "****"

    def test_the_visible_tail_can_be_chosen(self):
        assert mask("12345678909", visible=2) == "****09"

    @given(value=st.text(min_size=0, max_size=40), visible=st.integers(1, 8))
    def test_never_reveals_more_than_the_tail(self, value, visible):
        masked = mask(value, visible)
        assert masked.startswith("****")
        tail = masked[4:]
        assert len(tail) <= visible and value.endswith(tail)
        assert len(tail) < len(value) or tail == ""
