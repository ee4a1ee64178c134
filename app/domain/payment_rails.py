"""Mexico's local payment rails: the account's referenced SPEI CLABE, its convenience-store
reference (OXXO-type cash deposits) and the payment instructions that quote them.

Both numbers are built on the account's payment serial (``app.models.account.Account.
payment_serial``, the number behind its payment reference in ``app.domain.payments``): one
numbering, three spellings of it, each with its own check digits.

CLABE ("Clave Bancaria Estandarizada", 18 digits): the collection bank's 3-digit ABM code,
its 3-digit plaza, an 11-digit account number (here the serial, zero-padded) and a control
digit. The control digit, as the ABM/Banco de México standard defines it and Wikipedia's
"CLABE" article (es.wikipedia.org/wiki/CLABE, "Dígito de control") publishes it with the
worked example ``032180000118359719``: weights 3, 7, 1 repeated over the first 17 digits;
sum the products each taken mod 10; the control digit is (10 − sum mod 10) mod 10. A bank
using "referenced CLABEs" for collections issues one per debtor under its own bank and plaza
codes, so a SPEI transfer to it names the account without anyone reading the concept text.

Convenience-store reference ("referencia de pago en tienda"): the agency's prefix (the
issuer number the store network assigns, a setting), the serial zero-padded to ten digits
and one Luhn (mod 10) check digit, the scheme of ISO/IEC 7812-1 that card numbers use and
python-stdnum implements (``stdnum.luhn``; Wikipedia "Luhn algorithm", whose worked example
``79927398713`` the tests check): every single mistyped digit and most swaps of neighbours
are caught at the till. Store networks print it as a Code 128 barcode.

Pure: no I/O; the bank and prefix are parameters (``app.config.Settings`` holds them).
"""

from __future__ import annotations

from dataclasses import dataclass

from stdnum import luhn

from app.domain import partners
from app.i18n import N_, Message

CLABE_LENGTH = partners.CLABE_LENGTH
CLABE_ACCOUNT_DIGITS = 11
STORE_SERIAL_DIGITS = 10
# The country whose rails these are: other countries' accounts get no CLABE nor store
# reference (their instructions say so).
RAILS_COUNTRY = "MX"
# One reason for a CLABE of ours that names no account of the file's partner, whether some
# other partner's account has it or none does: a statement never tells one creditor what
# another holds.
NO_ACCOUNT_HAS_THE_CLABE = Message(N_("no account of the partner has this CLABE"))


def clabe_check_digit(first17: str) -> str:
    """The CLABE control digit of the first 17 digits (weights 3-7-1, see the module), as
    the partner's own CLABE is checked (:func:`app.domain.partners.clabe_check_digit`)."""
    if len(first17) != CLABE_LENGTH - 1 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("the first 17 digits of a CLABE are digits")
    return str(partners.clabe_check_digit(first17))


def is_valid_clabe(clabe: str) -> bool:
    """Eighteen digits whose last is the control digit of the others."""
    if len(clabe) != CLABE_LENGTH or not (clabe.isascii() and clabe.isdigit()):
        return False
    return clabe_check_digit(clabe[:-1]) == clabe[-1]


@dataclass(frozen=True, slots=True)
class ClabeIssuer:
    """The collection bank that issues the referenced CLABEs: its ABM code, its plaza and the
    name debtors see."""

    bank_code: str
    plaza: str
    bank_name: str

    def __post_init__(self) -> None:
        for name, value in (("bank_code", self.bank_code), ("plaza", self.plaza)):
            if len(value) != 3 or not (value.isascii() and value.isdigit()):
                raise ValueError(f"a CLABE {name} has three digits")

    def clabe(self, serial: int) -> str:
        """The referenced CLABE of the account with this payment serial."""
        if not 0 < serial < 10**CLABE_ACCOUNT_DIGITS:
            raise ValueError(f"an account serial has 1 to {CLABE_ACCOUNT_DIGITS} digits")
        body = f"{self.bank_code}{self.plaza}{serial:0{CLABE_ACCOUNT_DIGITS}d}"
        return body + clabe_check_digit(body)

    def serial_of(self, clabe: str) -> int | None:
        """The payment serial a CLABE of ours names; None when it is not valid or another
        bank's or plaza's (:func:`clabe_problem` says which)."""
        if clabe_problem(self, clabe) is not None:
            return None
        serial = int(clabe[6:17])
        return serial or None


def clabe_problem(issuer: ClabeIssuer, clabe: str) -> Message | None:
    """Why a CLABE cannot name one of our accounts, or None when it can."""
    if len(clabe) != CLABE_LENGTH or not (clabe.isascii() and clabe.isdigit()):
        return Message(N_("the CLABE must have 18 digits"))
    if not is_valid_clabe(clabe):
        return Message(N_("the CLABE's check digit does not match"))
    if clabe[:3] != issuer.bank_code or clabe[3:6] != issuer.plaza:
        return Message(N_("the CLABE is not one the collection bank issued for the agency"))
    if int(clabe[6:17]) == 0:
        return NO_ACCOUNT_HAS_THE_CLABE
    return None


def store_check_digit(body: str) -> str:
    """The Luhn (mod 10) check digit of a store reference's digits."""
    if not (body.isascii() and body.isdigit()):
        raise ValueError("a store reference is digits")
    return str(luhn.calc_check_digit(body))


def store_reference(prefix: str, serial: int) -> str:
    """The convenience-store reference: prefix, serial in ten digits, Luhn check digit."""
    if not (prefix.isascii() and prefix.isdigit()) or not 1 <= len(prefix) <= 6:
        raise ValueError("a store reference prefix has one to six digits")
    if not 0 < serial < 10**STORE_SERIAL_DIGITS:
        raise ValueError(f"an account serial has 1 to {STORE_SERIAL_DIGITS} digits")
    body = f"{prefix}{serial:0{STORE_SERIAL_DIGITS}d}"
    return body + store_check_digit(body)


def store_serial_of(prefix: str, reference: str) -> int | None:
    """The serial a quoted store reference names, or None (wrong prefix, length or check
    digit)."""
    compact = "".join(reference.split())
    if len(compact) != len(prefix) + STORE_SERIAL_DIGITS + 1 or not compact.startswith(prefix):
        return None
    if not (compact.isascii() and compact.isdigit()) or not luhn.is_valid(compact):
        return None
    serial = int(compact[len(prefix) : -1])
    return serial or None


@dataclass(frozen=True, slots=True)
class PaymentInstructions:
    """How and where a debtor pays one account. ``clabe`` and ``store_reference`` are
    None outside Mexico, with ``unavailable_reason`` saying so."""

    payment_reference: str
    country: str
    currency: str
    clabe: str | None
    bank_name: str | None
    bank_code: str | None
    store_reference: str | None
    unavailable_reason: Message | None


NOT_IN_MEXICO = Message(
    N_("SPEI CLABEs and convenience-store references are issued for Mexican accounts only; "
       "pay with the payment reference through the creditor's usual channels.")
)  # fmt: skip


def instructions(
    issuer: ClabeIssuer,
    store_prefix: str,
    *,
    serial: int,
    payment_reference: str,
    country: str,
    currency: str,
) -> PaymentInstructions:
    """The instructions of the account with this serial, in this country."""
    if country != RAILS_COUNTRY:
        return PaymentInstructions(
            payment_reference, country, currency, None, None, None, None, NOT_IN_MEXICO
        )
    return PaymentInstructions(
        payment_reference=payment_reference,
        country=country,
        currency=currency,
        clabe=issuer.clabe(serial),
        bank_name=issuer.bank_name,
        bank_code=issuer.bank_code,
        store_reference=store_reference(store_prefix, serial),
        unavailable_reason=None,
    )
