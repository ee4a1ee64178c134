"""SPEI statements: the deposits a collection bank received on the agency's referenced CLABEs
(app/domain/payment_rails.py), one line per transfer, read and matched to accounts by the
CLABE they were sent to.

A statement is a payment file of another layout (app/domain/payment_files.py does the
rest: duplicates, outcomes, the report). Its columns:

- ``amount``, ``date`` (the day the transfer settled), ``beneficiary_clabe`` (the 18 digits
  it was sent to) and ``tracking_key`` (the "clave de rastreo" SPEI gives each transfer,
  up to 30 letters and digits) are required;
- ``payer_name`` and ``payer_bank`` (the ordering party and their bank) are optional. The
  payer's name is personal data: the job seals it at rest and listings mask it.

The tracking key is the payment's payer reference: a key already applied (earlier in the
file, in another statement or a payment file) is a ``duplicate`` and is not applied twice.
A line is ``matched_by_reference`` when its CLABE names an account of the file's partner
that can take money; otherwise ``unmatched`` with the reason: the CLABE's check digit does
not match, the CLABE is another bank's or plaza's, no account of the partner has it (an
account of another partner reads the same: one creditor's statement never learns what
another holds), the account was recalled or is closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.domain.assignments import EXAMPLE_DATES, FieldReader, RowError, check_header
from app.domain.file_kit import ColumnKind, FileColumn, amount_names, column_names, required_names
from app.domain.money import from_minor
from app.domain.payment_files import (
    AccountKey,
    FileContext,
    Outcome,
    PaymentLine,
    Reconciled,
)
from app.domain.payment_rails import NO_ACCOUNT_HAS_THE_CLABE, ClabeIssuer, clabe_problem
from app.i18n import N_, Message

TRACKING_KEY_MAX = 30
FILE_COLUMNS: tuple[FileColumn, ...] = (
    FileColumn("amount", ColumnKind.AMOUNT, N_("the amount transferred, more than zero"), True),
    FileColumn("date", ColumnKind.DATE, N_("the day the transfer settled"), required=True),
    FileColumn(
        "beneficiary_clabe",
        ColumnKind.TEXT,
        N_("the 18-digit CLABE the transfer was sent to (names the account)"),
        required=True,
    ),
    FileColumn(
        "tracking_key",
        ColumnKind.TEXT,
        N_("the transfer's clave de rastreo: letters and digits, at most {max}"),
        required=True,
        params={"max": TRACKING_KEY_MAX},
    ),
    FileColumn("payer_name", ColumnKind.TEXT, N_("the ordering party's name")),
    FileColumn("payer_bank", ColumnKind.TEXT, N_("the ordering party's bank")),
)
COLUMNS: tuple[str, ...] = column_names(FILE_COLUMNS)
REQUIRED_COLUMNS: frozenset[str] = required_names(FILE_COLUMNS)
AMOUNT_COLUMNS: frozenset[str] = amount_names(FILE_COLUMNS)
CHANNEL = "spei"
RECALLED = Message(N_("the account was recalled by the partner"))
CLOSED = Message(N_("the account is closed"))


def example_rows(currency: str) -> list[dict[str, str]]:
    """Two deposits :func:`read_line` accepts (made-up data; the CLABEs are well formed but
    name no account, so a real statement would list them as unmatched)."""
    return [
        {
            "amount": str(from_minor(150000, currency)),
            "date": EXAMPLE_DATES[1],
            "beneficiary_clabe": "646180000000000017",
            "tracking_key": "EXAMPLE0001",
            "payer_name": "Juan Ejemplo Prueba",
            "payer_bank": "BANCO EJEMPLO",
        },
        {
            "amount": str(from_minor(80000, currency)),
            "date": EXAMPLE_DATES[1],
            "beneficiary_clabe": "646180000000000024",
            "tracking_key": "EXAMPLE0002",
        },
    ]


def check_file_header(header: Sequence[str]) -> list[RowError]:
    return check_header(header, COLUMNS, REQUIRED_COLUMNS)


def read_line(
    row_number: int, raw: Mapping[str, Any], context: FileContext
) -> PaymentLine | list[RowError]:
    """The deposit as a payment to reconcile, or every reason it cannot be read. A CLABE that
    is 18 digits is read even when its check digit is wrong: the money arrived, and the
    report says why it found no account."""
    check = FieldReader(context.country)
    amount = check.amount(raw.get("amount"), "amount", currency=context.currency)
    if amount is not None and amount == 0:
        check.fail("amount", N_("must be more than zero"))
    paid_on = check.day(raw.get("date"), "date", context.today, required=True)
    clabe = check.text(raw.get("beneficiary_clabe"), "beneficiary_clabe", max_length=18)
    if clabe is not None and not (len(clabe) == 18 and clabe.isascii() and clabe.isdigit()):
        check.fail("beneficiary_clabe", N_("must have 18 digits"))
    key = check.text(raw.get("tracking_key"), "tracking_key", max_length=TRACKING_KEY_MAX)
    if key is not None and not (key.isascii() and key.isalnum()):
        check.fail("tracking_key", N_("must be letters and digits only"))
    payer_name = check.text(raw.get("payer_name"), "payer_name", max_length=120, required=False)
    payer_bank = check.text(raw.get("payer_bank"), "payer_bank", max_length=40, required=False)
    if check.errors:
        return check.errors
    assert amount is not None and paid_on is not None and clabe is not None and key is not None
    return PaymentLine(
        row_number=row_number,
        external_ref=None,
        payment_reference=clabe,
        serial=None,
        amount=amount,
        currency=context.currency,
        paid_on=paid_on,
        channel=CHANNEL,
        payer_reference=key.upper(),
        payer_name=payer_name,
        payer_bank=payer_bank,
    )


def serials_named(issuer: ClabeIssuer, lines: Sequence[PaymentLine]) -> list[int]:
    """The account serials the lines' CLABEs name (valid CLABEs of ours only), sorted."""
    found = {issuer.serial_of(line.payment_reference or "") for line in lines}
    return sorted(s for s in found if s is not None)


def match(line: PaymentLine, issuer: ClabeIssuer, own: Mapping[int, AccountKey]) -> Reconciled:
    """The account of the partner that owns the deposit's CLABE, or why none can take it.
    ``own`` maps the partner's account serials to their accounts. A CLABE of another
    partner's account reads as one no account has (:data:`NO_ACCOUNT_HAS_THE_CLABE`)."""
    clabe = line.payment_reference or ""
    problem = clabe_problem(issuer, clabe)
    if problem is not None:
        return Reconciled(line, Outcome.UNMATCHED, detail=problem)
    serial = issuer.serial_of(clabe)
    account = None if serial is None else own.get(serial)
    if account is None:
        return Reconciled(line, Outcome.UNMATCHED, detail=NO_ACCOUNT_HAS_THE_CLABE)
    if account.recalled:
        return Reconciled(line, Outcome.UNMATCHED, account, detail=RECALLED)
    if account.closed:
        return Reconciled(line, Outcome.UNMATCHED, account, detail=CLOSED)
    return Reconciled(line, Outcome.MATCHED_BY_REFERENCE, account)
