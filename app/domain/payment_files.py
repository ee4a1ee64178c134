"""Payment files from partners: the columns, reading a line, and reconciling lines against
accounts and earlier payments. Pure: the job (app/services/payment_files.py) reads the rows
and accounts from the database and writes what these functions decide.

A line names its account by the partner's ``external_ref`` or by the account's payment
reference (the 12 digits with MOD 97-10 check digits the debtor quotes at the bank or the
store). Reconciliation sorts each line into one outcome:

- ``matched``: found by ``external_ref`` and applied;
- ``matched_by_reference``: found by the payment reference and applied;
- ``unmatched``: readable, but no account of the partner can take it (unknown reference,
  check digits that do not match, the two references naming different accounts, a recalled
  account); the money waits for someone to apply it by hand;
- ``duplicate``: its ``payer_reference`` (the bank's tracking key) was already applied,
  earlier in this file or in an earlier payment, so applying it again would count the money
  twice;
- ``rejected``: the line itself cannot be read (amount, date, currency, missing fields).

An ``unmatched`` line may later be applied by hand to an account someone found for it,
once: it becomes ``matched_by_hand``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from app.domain.assignments import EXAMPLE_DATES, FieldReader, RowError, check_header
from app.domain.file_kit import ColumnKind, FileColumn, amount_names, column_names, required_names
from app.domain.identity import Country
from app.domain.money import from_minor
from app.domain.payments import RECORDED_CHANNELS, PaymentChannel, payment_reference, serial_of
from app.i18n import N_, Message

CHANNELS: frozenset[str] = frozenset(c.value for c in RECORDED_CHANNELS)
DEFAULT_CHANNEL = PaymentChannel.PARTNER_REPORT.value
FILE_COLUMNS: tuple[FileColumn, ...] = (
    FileColumn(
        "external_ref",
        ColumnKind.TEXT,
        N_("the partner's reference of the account paid (this or payment_reference)"),
    ),
    FileColumn(
        "payment_reference",
        ColumnKind.TEXT,
        N_("the account's payment reference the debtor quoted (this or external_ref)"),
    ),
    FileColumn("amount", ColumnKind.AMOUNT, N_("the amount paid, more than zero"), True),
    FileColumn("currency", ColumnKind.TEXT, N_("ISO 4217 code: the partner's currency")),
    FileColumn("paid_on", ColumnKind.DATE, N_("the day the money was paid"), required=True),
    FileColumn(
        "channel",
        ColumnKind.CHOICE,
        N_("how it was paid (default: partner_report)"),
        choices=tuple(sorted(CHANNELS)),
    ),
    FileColumn(
        "payer_reference",
        ColumnKind.TEXT,
        N_("the bank's tracking key or the store's ticket: a payment is applied once"),
        required=True,
    ),
)
COLUMNS: tuple[str, ...] = column_names(FILE_COLUMNS)
REQUIRED_COLUMNS: frozenset[str] = required_names(FILE_COLUMNS)
AMOUNT_COLUMNS: frozenset[str] = amount_names(FILE_COLUMNS)


class Outcome(StrEnum):
    MATCHED = "matched"
    MATCHED_BY_REFERENCE = "matched_by_reference"
    UNMATCHED = "unmatched"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    MATCHED_BY_HAND = "matched_by_hand"


APPLIED: frozenset[Outcome] = frozenset({Outcome.MATCHED, Outcome.MATCHED_BY_REFERENCE})


def check_file_header(header: Sequence[str]) -> list[RowError]:
    """Unknown, repeated or missing columns; and a file must be able to name accounts."""
    errors = check_header(header, COLUMNS, REQUIRED_COLUMNS)
    if "external_ref" not in header and "payment_reference" not in header:
        errors.append(
            RowError(
                "external_ref", Message(N_("give an external_ref or a payment_reference column"))
            )
        )
    return errors


def flat_line(cells: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV or Excel line as read: already flat, so as it is."""
    return dict(cells)


def example_rows(currency: str) -> list[dict[str, str]]:
    """Two lines :func:`read_line` accepts for a partner in ``currency`` (made-up data): one
    naming its account by external_ref, one by payment reference."""
    return [
        {
            "external_ref": "EXAMPLE-0001",
            "amount": str(from_minor(150000, currency)),
            "currency": currency,
            "paid_on": EXAMPLE_DATES[1],
            "channel": "spei",
            "payer_reference": "EXAMPLE0001",
        },
        {
            "payment_reference": payment_reference(17),
            "amount": str(from_minor(80000, currency)),
            "paid_on": EXAMPLE_DATES[1],
            "channel": "cash_store",
            "payer_reference": "EXAMPLE-TICKET-0002",
        },
    ]


@dataclass(frozen=True, slots=True)
class FileContext:
    """The partner's country and currency, and its business date (no payment is dated after
    it)."""

    country: Country
    currency: str
    today: date


@dataclass(frozen=True, slots=True)
class PaymentLine:
    row_number: int
    external_ref: str | None
    # As quoted (spaces and dashes kept for the report); ``serial`` is the account it names,
    # or None when its check digits do not match.
    payment_reference: str | None
    serial: int | None
    amount: Decimal
    currency: str
    paid_on: date
    channel: str
    payer_reference: str
    # SPEI statements (app/domain/spei_files.py) also name the payer and their bank.
    payer_name: str | None = None
    payer_bank: str | None = None


def read_line(
    row_number: int, raw: Mapping[str, Any], context: FileContext
) -> PaymentLine | list[RowError]:
    """The line as a payment to reconcile, or every reason it cannot be read."""
    check = FieldReader(context.country)
    external_ref = check.text(
        raw.get("external_ref"), "external_ref", max_length=64, required=False
    )
    quoted = check.text(
        raw.get("payment_reference"), "payment_reference", max_length=20, required=False
    )
    if external_ref is None and quoted is None and not check.errors:
        check.fail("external_ref", N_("give the account's external_ref or its payment_reference"))
    amount = check.amount(raw.get("amount"), "amount", currency=context.currency)
    if amount is not None and amount == 0:
        check.fail("amount", N_("must be more than zero"))
    currency = check.text(raw.get("currency"), "currency", max_length=3, required=False)
    currency = (currency or context.currency).upper()
    if currency != context.currency:
        check.fail(
            "currency",
            N_("must be the partner's currency, {currency}"),
            {"currency": context.currency},
        )
    paid_on = check.day(raw.get("paid_on"), "paid_on", context.today, required=True)
    channel = check.text(raw.get("channel"), "channel", max_length=16, required=False)
    channel = (channel or DEFAULT_CHANNEL).lower()
    if channel not in CHANNELS:
        check.fail(
            "channel", N_("must be one of {channels}"), {"channels": ", ".join(sorted(CHANNELS))}
        )
    payer_reference = check.text(raw.get("payer_reference"), "payer_reference", max_length=100)
    if check.errors:
        return check.errors
    assert amount is not None and paid_on is not None and payer_reference is not None
    return PaymentLine(
        row_number=row_number,
        external_ref=external_ref,
        payment_reference=quoted,
        serial=None if quoted is None else serial_of(quoted),
        amount=amount,
        currency=currency,
        paid_on=paid_on,
        channel=channel,
        payer_reference=payer_reference,
    )


@dataclass(frozen=True, slots=True)
class AccountKey:
    """What reconciliation needs to know of a candidate account."""

    id: Any
    external_ref: str
    serial: int | None
    recalled: bool
    closed: bool = False


@dataclass(frozen=True, slots=True)
class Reconciled:
    line: PaymentLine
    outcome: Outcome
    account: AccountKey | None = None
    duplicate_of: Any = None
    detail: Message | None = None  # shown in the reader's language


def reconcile(
    lines: Sequence[PaymentLine],
    by_external_ref: Mapping[str, AccountKey],
    by_serial: Mapping[int, AccountKey],
    applied_references: Mapping[str, Any],
    seen_in_file: dict[str, int],
) -> list[Reconciled]:
    """Each line's outcome, in file order.

    ``applied_references`` maps payer references already used by the partner to their
    payment; ``seen_in_file`` (payer reference → first line applied with it) is updated as
    lines are applied, so it carries across the batches of one file."""
    return reconcile_with(
        lines,
        lambda line: _match(line, by_external_ref, by_serial),
        applied_references,
        seen_in_file,
    )


Matcher = Callable[[PaymentLine], "Reconciled"]


def reconcile_with(
    lines: Sequence[PaymentLine],
    match: Matcher,
    applied_references: Mapping[str, Any],
    seen_in_file: dict[str, int],
) -> list[Reconciled]:
    """:func:`reconcile` with the account matching of a kind of file (a SPEI statement
    matches by CLABE): duplicates of a payer reference are found the same way for all."""
    out: list[Reconciled] = []
    for line in lines:
        earlier = applied_references.get(line.payer_reference)
        if earlier is not None:
            out.append(
                Reconciled(
                    line,
                    Outcome.DUPLICATE,
                    duplicate_of=earlier,
                    detail=Message(N_("the payer reference was already applied")),
                )
            )
            continue
        first = seen_in_file.get(line.payer_reference)
        if first is not None:
            out.append(
                Reconciled(
                    line,
                    Outcome.DUPLICATE,
                    detail=Message(
                        N_("the payer reference is also on line {line}"), {"line": first}
                    ),
                )
            )
            continue
        result = match(line)
        if result.outcome in APPLIED:
            # Only money applied makes a later line with its reference a duplicate.
            seen_in_file[line.payer_reference] = line.row_number
        out.append(result)
    return out


def _match(
    line: PaymentLine,
    by_external_ref: Mapping[str, AccountKey],
    by_serial: Mapping[int, AccountKey],
) -> Reconciled:
    by_ref = None if line.external_ref is None else by_external_ref.get(line.external_ref)
    by_quote = None if line.serial is None else by_serial.get(line.serial)
    if line.payment_reference is not None and line.serial is None:
        return Reconciled(
            line,
            Outcome.UNMATCHED,
            detail=Message(N_("the payment reference's check digits do not match")),
        )
    if by_ref is not None and line.payment_reference is not None and by_quote != by_ref:
        return Reconciled(
            line,
            Outcome.UNMATCHED,
            detail=Message(N_("external_ref and payment_reference name different accounts")),
        )
    if by_ref is not None:
        account, outcome = by_ref, Outcome.MATCHED
    elif by_quote is not None and line.external_ref is None:
        account, outcome = by_quote, Outcome.MATCHED_BY_REFERENCE
    else:
        return Reconciled(
            line, Outcome.UNMATCHED, detail=Message(N_("no account of the partner has it"))
        )
    if account.recalled:
        return Reconciled(
            line,
            Outcome.UNMATCHED,
            account,
            detail=Message(N_("the account was recalled by the partner")),
        )
    return Reconciled(line, outcome, account)
