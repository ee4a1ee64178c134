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

# The language of the agreement, with the partner's country for its number conventions.
LANGUAGE = "es"
DEFAULT_LOCALE = "es_MX"

PLAN_NAMES: dict[str, str] = {
    "regularization": "Programa de regularización",
    "restructuring": "Reestructura",
    "settlement": "Liquidación con quita",
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
    """The Babel locale the agreement's numbers and dates follow: Spanish as written in the
    partner's country (``es_MX``, ``es_CO`` …), ``es_MX`` where CLDR has no such locale."""
    name = f"{LANGUAGE}_{country.upper()}"
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


def installment_label(number: int) -> str:
    return "Enganche" if number == 0 else str(number)


def breaking_rule_text(missed: int, days_late: int) -> str:
    """When the plan breaks, as the debtor reads it."""
    missed_text = (
        "queda sin pagar una parcialidad vencida"
        if missed == 1
        else f"quedan sin pagar {missed} parcialidades vencidas"
    )
    day = "día" if days_late == 1 else "días"
    return (
        f"El convenio se tendrá por incumplido si {missed_text} (el enganche cuenta como "
        f"una parcialidad), o si una parcialidad tiene más de {days_late} {day} de atraso."
    )


def _payment_paragraphs(facts: AgreementFacts) -> list[str]:
    account = facts.payment_account
    reference = facts.payment_reference
    holder = account.account_holder or facts.creditor_legal_name
    lines = [f"Referencia de pago de su cuenta: {reference}. Cítela en cada pago."]
    if facts.account_clabe:
        bank = f" de {facts.account_clabe_bank}" if facts.account_clabe_bank else ""
        lines.append(
            f"Transferencia SPEI a la CLABE de su cuenta {facts.account_clabe}{bank}, a "
            f"nombre de {holder}: el pago se aplica a su cuenta sin más datos."
        )
    if facts.store_reference:
        lines.append(
            "En efectivo en tiendas de conveniencia, con la referencia de tienda "
            f"{facts.store_reference} (o su código de barras)."
        )
    if account.clabe:
        bank = f" de {account.bank_name}" if account.bank_name else ""
        lines.append(
            f"Transferencia SPEI o depósito a la CLABE {account.clabe}{bank}, a nombre de "
            f"{holder}, con la referencia {reference} en el concepto de pago."
        )
    elif account.bank_name:
        lines.append(
            f"Depósito en {account.bank_name} a la cuenta a nombre de {holder}, con la "
            f"referencia {reference}."
        )
    if account.cash_stores:
        lines.append(
            f"En efectivo en {account.cash_stores}, dando la referencia {reference} en caja."
        )
    if not (account.clabe or account.bank_name or account.cash_stores):
        lines.append(
            f"En las cuentas de {facts.creditor_legal_name} que el acreedor le indique, con "
            f"la referencia {reference}."
        )
    lines.append(
        f"Los pagos se hacen únicamente a cuentas a nombre de {holder}, nunca a la agencia "
        "de cobranza ni a sus gestores. Ningún gestor está autorizado para recibir dinero en "
        "efectivo. Conserve sus comprobantes."
    )
    return lines


def agreement_text(facts: AgreementFacts) -> AgreementText:
    """The agreement's text (Spanish) from its facts."""
    locale = locale_of(facts.country)

    def money(amount: Decimal) -> str:
        return format_money(amount, facts.currency, locale)

    def day(value: date) -> str:
        return format_date(value, locale)

    plan_name = PLAN_NAMES.get(facts.plan_type, facts.plan_type)
    tax_name = TAX_ID_NAMES.get(facts.country, "identificación fiscal")
    if facts.country == "MX" and facts.agency_redeco_number:
        agency = (
            f"Despacho de cobranza: {facts.agency_legal_name}, inscrito en el Registro de "
            "Despachos de Cobranza (REDECO) de la CONDUSEF con el número "
            f"{facts.agency_redeco_number}, que gestiona la cobranza por cuenta del acreedor."
        )
    else:
        agency = (
            f"Agencia de cobranza: {facts.agency_legal_name}, que gestiona la cobranza por "
            "cuenta del acreedor."
        )
    parties = (
        f"Acreedor: {facts.creditor_legal_name}, {tax_name} {facts.creditor_tax_id}.",
        agency,
        f"Deudor: {facts.debtor_name}, identificación {facts.debtor_national_id_masked}.",
        f"Cuenta: {facts.account_ref}. Moneda: {facts.currency}.",
    )

    covered = (
        f"Adeudo vencido que regulariza este convenio: {money(facts.covered_debt)} (el resto "
        "del contrato sigue en sus términos)."
        if facts.plan_type == "regularization"
        else f"Adeudo que cubre este convenio: {money(facts.covered_debt)}."
    )
    amounts = [covered]
    if facts.forgiven > 0:
        amounts.append(f"Descuento (quita) que otorga el acreedor: {money(facts.forgiven)}.")
    else:
        amounts.append("Descuento (quita): no hay.")
    if facts.interest_total > 0:
        amounts.append(f"Intereses del plan: {money(facts.interest_total)}.")
    amounts.append(f"Total a pagar: {money(facts.agreed_total)}.")
    due = facts.down_payment_due
    if facts.down_payment > 0 and due is not None:
        amounts.append(
            f"Pago inicial (enganche): {money(facts.down_payment)}, a más tardar el {day(due)}."
        )
    else:
        amounts.append("Pago inicial (enganche): no hay.")
    payments = sum(1 for o in facts.obligations if o.number > 0)
    amounts.append(f"Parcialidades: {payments}, según el calendario siguiente.")

    schedule = Table(
        header=("No.", "Fecha límite de pago", "Importe"),
        widths=(0.16, 0.44, 0.40),
        rows=tuple(
            (installment_label(o.number), day(o.due_date), money(o.amount))
            for o in facts.obligations
        ),
    )

    consequence = (
        "En tal caso el convenio termina, el descuento (quita) deja de aplicar y el adeudo "
        "vuelve a ser exigible en los términos del contrato original, descontando lo pagado."
        if facts.forgiven > 0
        else "En tal caso el convenio termina y el adeudo vuelve a ser exigible en los "
        "términos del contrato original, descontando lo pagado."
    )
    sections = (
        Section("PARTES", parties),
        Section("IMPORTES", tuple(amounts)),
        Section("CALENDARIO DE PAGOS", table=schedule),
        Section("CÓMO Y DÓNDE PAGAR", tuple(_payment_paragraphs(facts))),
        Section(
            "INCUMPLIMIENTO",
            (
                breaking_rule_text(facts.missed_installments_to_break, facts.days_late_to_break),
                consequence,
            ),
        ),
        Section(
            "FIRMA",
            (
                f"Fecha de firma: {day(facts.signed_on)}. Las partes firman de conformidad "
                f"el convenio con folio {facts.folio}.",
            ),
        ),
    )
    return AgreementText(
        title="CONVENIO DE PAGO",
        subtitle=(
            f"Folio: {facts.folio}",
            f"{plan_name} - fecha de firma: {day(facts.signed_on)}",
        ),
        sections=sections,
        signatures=(
            (facts.debtor_name, "El deudor"),
            (facts.creditor_legal_name, "Por el acreedor"),
        ),
        document_title=f"Convenio de pago {facts.folio}",
        author=facts.creditor_legal_name,
    )


def obligations_of(rows: Sequence[tuple[int, date, Decimal]]) -> tuple[AgreementInstallment, ...]:
    """The plan's obligations in order (the down payment first)."""
    return tuple(AgreementInstallment(n, d, a) for n, d, a in sorted(rows))
