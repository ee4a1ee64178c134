"""The payment agreement ("convenio de pago"): what it states and how it says it.

A service gathers an :class:`AgreementFacts` (the plan, the parties, how to pay) and
:func:`agreement_text` turns it into the document's text, section by section, for a thin
renderer to draw (``app/services/agreements.py``). The text is in Spanish: the agreement is
the debtor's, and Cartera's partners are in Mexico and the rest of Latin America.

Choices made here:

- Amounts read ``$1,234.50 MXN``: the currency's symbol and the number as the partner's
  country writes them (Babel's CLDR data for ``es_<country>``: ``1.234,50`` in Colombia and
  Chile), always with the currency's ISO 4217 decimals (``app.domain.money``: none for CLP,
  two for COP, where CLDR would round pesos away) and the ISO code after it, so no amount
  is ambiguous. Dates read ``5 de diciembre de 2026``.
- The folio is ``CONV-<creditor>-<year>-<plan>``: the creditor's initials (its legal name
  without legal forms such as "S.A. de C.V."), the year the agreement was signed and the
  last ten hex digits of the plan id (the random part of a UUIDv7, upper case), so that
  staff find the plan from a folio read out over the phone. It is a function of the plan,
  never stored separately, and the same on every download.
- The debt the agreement covers is what the plan was quoted on: the past-due amount for a
  regularization (the contract otherwise goes on), the total for a restructuring or a
  settlement. A settlement's discount ("quita") is stated with it and is lost if the plan
  breaks.
- Payments go to the creditor's accounts only, never to the agency (CONDUSEF's rules for
  collection agencies; the MX rule pack says the same): the bank, CLABE and cash stores are
  the creditor's, quoted with the account's payment reference.
- The PDF's core fonts only draw latin-1. :func:`printable` keeps every Spanish letter,
  replaces typographic punctuation with its ASCII twin, strips accents latin-1 lacks
  ("Şahin" → "Sahin", "Łukasz" → "Lukasz") and writes ``?`` for anything else (emoji,
  CJK), so no name can make the document fail.

Pure: no I/O (Babel reads its locale data from its own package), no clock.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from babel import localedata
from babel.dates import format_date as babel_format_date
from babel.numbers import format_decimal, get_currency_symbol

from app.domain.money import minor_unit_of
from app.i18n import N_, Language
from app.i18n import render as in_language

# The agreement is written in the language of the partner's country (a contract the debtor
# signs, whoever prints it): Portuguese in Brazil, English in the United States, Spanish
# everywhere else. Its numbers and dates follow that country's conventions.
COUNTRY_LANGUAGES: dict[str, Language] = {"BR": "pt-BR", "US": "en"}
DEFAULT_AGREEMENT_LANGUAGE: Language = "es"
DEFAULT_LOCALE = "es_MX"

PLAN_NAMES: dict[str, str] = {
    "regularization": N_("Regularization programme"),
    "restructuring": N_("Restructuring"),
    "settlement": N_("Settlement with a discount"),
}
# How each country names a company's tax id.
TAX_ID_NAMES: dict[str, str] = {
    "MX": "RFC",
    "CO": "NIT",
    "PE": "RUC",
    "CL": "RUT",
    "BR": "CNPJ",
    "US": "EIN",
}


def agreement_language(country: str) -> Language:
    """The language the agreement of a partner in ``country`` is written in."""
    return COUNTRY_LANGUAGES.get(country.upper(), DEFAULT_AGREEMENT_LANGUAGE)


@dataclass(frozen=True, slots=True)
class AgreementInstallment:
    """An obligation of the plan: number 0 is the down payment ("enganche")."""

    number: int
    due_date: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PaymentAccount:
    """Where the debtor pays: the creditor's bank account (a CLABE in Mexico, for SPEI
    transfers and deposits) and the cash stores that take the payment reference."""

    bank_name: str | None = None
    clabe: str | None = None
    account_holder: str | None = None
    cash_stores: str | None = None


@dataclass(frozen=True, slots=True)
class Agency:
    """The collection agency, as its agreements name it (from the settings)."""

    legal_name: str
    # CONDUSEF's Registro de Despachos de Cobranza (Mexico).
    redeco_number: str | None = None


@dataclass(frozen=True, slots=True)
class AgreementFacts:
    """Everything the agreement states, gathered once when it is first issued."""

    plan_id: uuid.UUID
    plan_type: str
    country: str
    currency: str
    # When the plan became active (approved, or active on proposal), and that day in the
    # partner's zone: the agreement's date.
    signed_at: datetime
    signed_on: date
    creditor_legal_name: str
    creditor_tax_id: str
    agency_legal_name: str
    agency_redeco_number: str | None
    debtor_name: str
    debtor_national_id_masked: str
    account_ref: str
    payment_reference: str
    # What the plan covers before any discount: the debt the agreement settles or catches up.
    covered_debt: Decimal
    forgiven: Decimal
    interest_total: Decimal
    agreed_total: Decimal
    down_payment: Decimal
    obligations: tuple[AgreementInstallment, ...]
    missed_installments_to_break: int
    days_late_to_break: int
    payment_account: PaymentAccount
    # The account's own rails in Mexico (app/domain/payment_rails.py): its referenced SPEI
    # CLABE with the bank holding it, and its convenience-store reference. Absent from
    # agreements issued before they existed, which read as they always did.
    account_clabe: str | None = None
    account_clabe_bank: str | None = None
    store_reference: str | None = None

    @property
    def down_payment_due(self) -> date | None:
        return next((o.due_date for o in self.obligations if o.number == 0), None)

    @property
    def folio(self) -> str:
        return folio(self.creditor_legal_name, self.signed_on, self.plan_id)


# --- formatting -------------------------------------------------------------------------


def locale_of(country: str) -> str:
    """The Babel locale the agreement's numbers and dates follow: its language as written
    in the partner's country (``es_MX``, ``es_CO``, ``pt_BR``, ``en_US`` …), ``es_MX``
    where CLDR has no such locale."""
    language = agreement_language(country).split("-")[0]
    name = f"{language}_{country.upper()}"
    return name if localedata.exists(name) else DEFAULT_LOCALE


def format_money(amount: Decimal, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """``$1,234.50 MXN``: the symbol, the amount with the currency's decimals as ``locale``
    writes numbers, and the ISO code. Never rounded: an amount is held to its minor unit
    before it gets here (more decimals are a programming error, refused)."""
    places = minor_unit_of(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(f"{amount} has more decimals than {currency} has")
    pattern = "#,##0" + ("." + "0" * places if places else "")
    number = format_decimal(abs(amount), format=pattern, locale=locale, decimal_quantization=False)
    symbol = get_currency_symbol(currency, locale)
    sign = "-" if amount < 0 else ""
    if symbol == currency:  # the locale has no symbol of its own for it
        return f"{sign}{number} {currency}"
    return f"{sign}{symbol}{number} {currency}"


def format_date(day: date, locale: str = DEFAULT_LOCALE) -> str:
    """``5 de diciembre de 2026``."""
    return babel_format_date(day, format="long", locale=locale)


# Typographic characters latin-1 lacks, and what stands for them.
_ASCII_TWINS = str.maketrans(
    {
        "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
        "“": '"', "”": '"', "„": '"', "″": '"',
        "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
        "…": "...", "•": "*", "€": "EUR", "™": "(TM)",
        "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Œ": "OE", "œ": "oe", "ı": "i",
        "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ",
        "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "",
    }
)  # fmt: skip
REPLACEMENT = "?"
# Unicode categories that draw nothing: controls, formatting, surrogates, private, unassigned.
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def printable(text: str) -> str:
    """``text`` in latin-1, the core PDF fonts' alphabet: Spanish (and Portuguese) letters
    kept, typographic punctuation as ASCII, accents latin-1 lacks dropped, control
    characters (but line breaks) removed and any other character (emoji, CJK) as ``?``."""
    out: list[str] = []
    for char in unicodedata.normalize("NFC", text.translate(_ASCII_TWINS)):
        if char in "\n\t":
            out.append(char)
        elif unicodedata.category(char) in _DROPPED or unicodedata.combining(char):
            continue  # controls, invisible formatting, stray accents
        elif ord(char) < 0x100:
            out.append(char)
        else:
            base = "".join(
                c
                for c in unicodedata.normalize("NFKD", char)
                if ord(c) < 0x100 and not unicodedata.combining(c)
            )
            out.append(base if base.isprintable() and base else REPLACEMENT)
    return "".join(out)


# --- the folio --------------------------------------------------------------------------

# Words of company names that say what kind of company it is, not which one.
_LEGAL_FORMS = frozenset(
    {
        "S", "A", "B", "C", "V", "R", "L", "P", "I", "E", "DE", "DEL", "LA", "EL", "LOS",
        "LAS", "Y", "SA", "SAB", "SAPI", "CV", "RL", "SRL", "SC", "SAS", "SPA", "SOFOM",
        "SOFIPO", "ENR", "ER", "IBM", "GF", "LTDA", "LTD", "INC", "LLC", "CORP", "CO", "CIA",
        "SAC", "SAA", "EIRL", "ME", "EPP", "EIRELI", "MEI",
    }
)  # fmt: skip
CREDITOR_CODE_MAX = 4
FALLBACK_CODE = "ACR"


def creditor_code(legal_name: str) -> str:
    """The creditor's initials for the folio: "Banco Ejemplo, S.A. de C.V." → "BE";
    a one-word name gives its first three letters; no Latin letters at all gives "ACR"."""
    ascii_name = unicodedata.normalize("NFKD", legal_name).encode("ascii", "ignore").decode()
    words = [w for w in re.split(r"[^A-Za-z0-9]+", ascii_name.upper()) if w]
    meaningful = [w for w in words if w not in _LEGAL_FORMS and w[0].isalpha()]
    if len(meaningful) == 1:
        return meaningful[0][:3]
    if meaningful:
        return "".join(w[0] for w in meaningful)[:CREDITOR_CODE_MAX]
    return FALLBACK_CODE


PLAN_DIGITS = 10


def folio(creditor_legal_name: str, signed_on: date, plan_id: uuid.UUID) -> str:
    """``CONV-BE-2026-3F9A1C7E2B``: creditor, year signed, the plan id's last ten hex digits."""
    return (
        f"CONV-{creditor_code(creditor_legal_name)}-{signed_on.year:04d}-"
        f"{plan_id.hex[-PLAN_DIGITS:].upper()}"
    )


# --- the text ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    header: tuple[str, ...]
    # Each column's share of the width; they sum to 1.
    widths: tuple[float, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...] = ()
    table: Table | None = None


@dataclass(frozen=True, slots=True)
class AgreementText:
    """The agreement as a renderer draws it: title lines, sections, and the names under
    the signature lines."""

    title: str
    subtitle: tuple[str, ...]
    sections: tuple[Section, ...]
    signatures: tuple[tuple[str, str], ...]  # (name, role)
    # Document metadata.
    document_title: str
    author: str


def installment_label(number: int, language: Language = DEFAULT_AGREEMENT_LANGUAGE) -> str:
    return in_language(N_("Down payment"), language) if number == 0 else str(number)


def breaking_rule_text(
    missed: int, days_late: int, language: Language = DEFAULT_AGREEMENT_LANGUAGE
) -> str:
    """When the plan breaks, as the debtor reads it."""
    missed_text = (
        in_language(N_("one installment past due is left unpaid"), language)
        if missed == 1
        else in_language(N_("{missed} installments past due are left unpaid"), language,
                         {"missed": missed})
    )  # fmt: skip
    template = (
        N_("The agreement is broken if {missed_text} (the down payment counts as an "
           "installment), or if an installment is more than {days} day late.")
        if days_late == 1
        else N_("The agreement is broken if {missed_text} (the down payment counts as an "
                "installment), or if an installment is more than {days} days late.")
    )  # fmt: skip
    return in_language(template, language, {"missed_text": missed_text, "days": days_late})


def _payment_paragraphs(facts: AgreementFacts, language: Language) -> list[str]:
    account = facts.payment_account
    reference = facts.payment_reference
    holder = account.account_holder or facts.creditor_legal_name

    def say(template: str, **params: object) -> str:
        return in_language(template, language, params)

    lines = [say(N_("Your account's payment reference: {reference}. Quote it with every "
                    "payment."), reference=reference)]  # fmt: skip
    if facts.account_clabe:
        lines.append(
            say(N_("SPEI transfer to your account's CLABE {clabe} at {bank}, in the name of "
                   "{holder}: the payment is applied to your account with no further details."),
                clabe=facts.account_clabe, bank=facts.account_clabe_bank, holder=holder)
            if facts.account_clabe_bank
            else say(N_("SPEI transfer to your account's CLABE {clabe}, in the name of "
                        "{holder}: the payment is applied to your account with no further "
                        "details."), clabe=facts.account_clabe, holder=holder)
        )  # fmt: skip
    if facts.store_reference:
        lines.append(
            say(N_("In cash at convenience stores, with the store reference {store_reference} "
                   "(or its barcode)."), store_reference=facts.store_reference)
        )  # fmt: skip
    if account.clabe:
        lines.append(
            say(N_("SPEI transfer or deposit to CLABE {clabe} at {bank}, in the name of "
                   "{holder}, with the reference {reference} as the payment concept."),
                clabe=account.clabe, bank=account.bank_name, holder=holder, reference=reference)
            if account.bank_name
            else say(N_("SPEI transfer or deposit to CLABE {clabe}, in the name of {holder}, "
                        "with the reference {reference} as the payment concept."),
                     clabe=account.clabe, holder=holder, reference=reference)
        )  # fmt: skip
    elif account.bank_name:
        lines.append(
            say(N_("Deposit at {bank} to the account in the name of {holder}, with the "
                   "reference {reference}."),
                bank=account.bank_name, holder=holder, reference=reference)
        )  # fmt: skip
    if account.cash_stores:
        lines.append(
            say(N_("In cash at {stores}, giving the reference {reference} at the till."),
                stores=account.cash_stores, reference=reference)
        )  # fmt: skip
    if not (account.clabe or account.bank_name or account.cash_stores):
        lines.append(
            say(N_("To the accounts of {creditor} that the creditor tells you, with the "
                   "reference {reference}."),
                creditor=facts.creditor_legal_name, reference=reference)
        )  # fmt: skip
    lines.append(
        say(N_("Payments are made only to accounts in the name of {holder}, never to the "
               "collection agency or its collectors. No collector may receive cash. Keep "
               "your receipts."), holder=holder)
    )  # fmt: skip
    return lines


def agreement_text(facts: AgreementFacts) -> AgreementText:
    """The agreement's text, in the language of the partner's country, from its facts."""
    language = agreement_language(facts.country)
    locale = locale_of(facts.country)

    def say(template: str, **params: object) -> str:
        return in_language(template, language, params)

    def money(amount: Decimal) -> str:
        return format_money(amount, facts.currency, locale)

    def day(value: date) -> str:
        return format_date(value, locale)

    plan_name = (
        say(PLAN_NAMES[facts.plan_type]) if facts.plan_type in PLAN_NAMES else (facts.plan_type)
    )
    tax_name = TAX_ID_NAMES.get(facts.country) or say(N_("tax id"))
    if facts.country == "MX" and facts.agency_redeco_number:
        agency = say(
            N_("Collection agency: {agency}, registered in CONDUSEF's Registry of Collection "
               "Agencies (REDECO) under number {redeco}, which collects on the creditor's "
               "behalf."),
            agency=facts.agency_legal_name, redeco=facts.agency_redeco_number,
        )  # fmt: skip
    else:
        agency = say(N_("Collection agency: {agency}, which collects on the creditor's behalf."),
                     agency=facts.agency_legal_name)  # fmt: skip
    parties = (
        say(N_("Creditor: {creditor}, {tax_name} {tax_id}."),
            creditor=facts.creditor_legal_name, tax_name=tax_name, tax_id=facts.creditor_tax_id),
        agency,
        say(N_("Debtor: {debtor}, identification {national_id}."),
            debtor=facts.debtor_name, national_id=facts.debtor_national_id_masked),
        say(N_("Account: {account}. Currency: {currency}."),
            account=facts.account_ref, currency=facts.currency),
    )  # fmt: skip

    covered = (
        say(N_("Past-due debt this agreement regularizes: {amount} (the rest of the contract "
               "stays on its terms)."), amount=money(facts.covered_debt))
        if facts.plan_type == "regularization"
        else say(N_("Debt this agreement covers: {amount}."), amount=money(facts.covered_debt))
    )  # fmt: skip
    amounts = [covered]
    if facts.forgiven > 0:
        amounts.append(say(N_("Discount granted by the creditor: {amount}."),
                           amount=money(facts.forgiven)))  # fmt: skip
    else:
        amounts.append(say(N_("Discount: none.")))
    if facts.interest_total > 0:
        amounts.append(say(N_("Interest of the plan: {amount}."),
                           amount=money(facts.interest_total)))  # fmt: skip
    amounts.append(say(N_("Total to pay: {amount}."), amount=money(facts.agreed_total)))
    due = facts.down_payment_due
    if facts.down_payment > 0 and due is not None:
        amounts.append(say(N_("Down payment: {amount}, no later than {date}."),
                           amount=money(facts.down_payment), date=day(due)))  # fmt: skip
    else:
        amounts.append(say(N_("Down payment: none.")))
    payments = sum(1 for o in facts.obligations if o.number > 0)
    amounts.append(say(N_("Installments: {count}, as the schedule below sets out."),
                       count=payments))  # fmt: skip

    schedule = Table(
        header=(say(N_("No.")), say(N_("Payment due date")), say(N_("Amount"))),
        widths=(0.16, 0.44, 0.40),
        rows=tuple(
            (installment_label(o.number, language), day(o.due_date), money(o.amount))
            for o in facts.obligations
        ),
    )

    consequence = (
        say(N_("The agreement then ends, the discount no longer applies and the debt is "
               "payable again on the terms of the original contract, less what was paid."))
        if facts.forgiven > 0
        else say(N_("The agreement then ends and the debt is payable again on the terms of "
                    "the original contract, less what was paid."))
    )  # fmt: skip
    sections = (
        Section(say(N_("PARTIES")), parties),
        Section(say(N_("AMOUNTS")), tuple(amounts)),
        Section(say(N_("PAYMENT SCHEDULE")), table=schedule),
        Section(say(N_("HOW AND WHERE TO PAY")), tuple(_payment_paragraphs(facts, language))),
        Section(
            say(N_("BREACH")),
            (
                breaking_rule_text(
                    facts.missed_installments_to_break, facts.days_late_to_break, language
                ),
                consequence,
            ),
        ),
        Section(
            say(N_("SIGNATURE")),
            (
                say(
                    N_(
                        "Signing date: {date}. The parties sign the agreement with folio "
                        "{folio} in agreement."
                    ),
                    date=day(facts.signed_on),
                    folio=facts.folio,
                ),
            ),
        ),
    )
    return AgreementText(
        title=say(N_("PAYMENT AGREEMENT")),
        subtitle=(
            say(N_("Folio: {folio}"), folio=facts.folio),
            say(N_("{plan} - signing date: {date}"), plan=plan_name, date=day(facts.signed_on)),
        ),
        sections=sections,
        signatures=(
            (facts.debtor_name, say(N_("The debtor"))),
            (facts.creditor_legal_name, say(N_("For the creditor"))),
        ),
        document_title=say(N_("Payment agreement {folio}"), folio=facts.folio),
        author=facts.creditor_legal_name,
    )


def obligations_of(rows: Sequence[tuple[int, date, Decimal]]) -> tuple[AgreementInstallment, ...]:
    """The plan's obligations in order (the down payment first)."""
    return tuple(AgreementInstallment(n, d, a) for n, d, a in sorted(rows))
