"""Payment references (referencias de pago): the number a debtor quotes at the bank, OXXO or
in a SPEI transfer so the payment finds its account without a person matching it.

A reference is the account's serial number, zero-padded to ten digits, followed by two check
digits computed with ISO 7064 MOD 97-10 (the IBAN scheme, via python-stdnum): any single
mistyped digit and any swap of two neighbouring digits is caught.
"""

from __future__ import annotations

from stdnum.iso7064 import mod_97_10

SERIAL_DIGITS = 10
REFERENCE_LENGTH = SERIAL_DIGITS + 2


def payment_reference(serial: int) -> str:
    """The twelve-digit reference of the account with this serial number."""
    if not 0 < serial < 10**SERIAL_DIGITS:
        raise ValueError(f"an account serial has 1 to {SERIAL_DIGITS} digits")
    body = f"{serial:0{SERIAL_DIGITS}d}"
    return body + mod_97_10.calc_check_digits(body)


def serial_of(reference: str) -> int | None:
    """The account serial a quoted reference names, or None when it is not one of ours
    (wrong length, not digits, or the check digits do not match)."""
    compact = "".join(reference.split()).replace("-", "")
    if len(compact) != REFERENCE_LENGTH or not (compact.isascii() and compact.isdigit()):
        return None
    if not mod_97_10.is_valid(compact):
        return None
    return int(compact[:SERIAL_DIGITS])
