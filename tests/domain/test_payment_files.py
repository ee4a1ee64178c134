"""Payment file lines: reading one, and reconciling lines against accounts and earlier
payments."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from app.domain.identity import Country
from app.domain.payment_files import (
    APPLIED,
    CHANNELS,
    AccountKey,
    FileContext,
    Outcome,
    PaymentLine,
    check_file_header,
    read_line,
    reconcile,
)
from app.domain.payments import payment_reference
from app.schemas.payment_files import OutcomeName
from app.schemas.payments import RecordedPaymentChannel

CONTEXT = FileContext(Country.MX, "MXN", date(2026, 11, 24))


def line(n: int, *, ref: str | None = "A-1", quoted: str | None = None, payer: str = "P"):
    result = read_line(
        n,
        {"external_ref": ref, "payment_reference": quoted, "amount": "10.00",
         "paid_on": "2026-11-20", "payer_reference": payer},
        CONTEXT,
    )  # fmt: skip
    assert isinstance(result, PaymentLine), result
    return result


def account(ref: str, serial: int, *, recalled: bool = False) -> AccountKey:
    return AccountKey(uuid.uuid4(), ref, serial, recalled)


def test_channels_and_outcomes_are_the_apis():
    assert frozenset(get_args(RecordedPaymentChannel)) == CHANNELS
    assert {"spei", "cash_store", "card", "branch", "partner_report"} == CHANNELS
    assert frozenset(get_args(OutcomeName)) == {o.value for o in Outcome}


def test_a_line_takes_the_partners_currency_and_reported_channel_by_default():
    read = line(2)
    assert (read.currency, read.channel, read.amount) == ("MXN", "partner_report", Decimal("10.00"))


def test_a_quoted_reference_is_read_with_its_spaces():
    quoted = payment_reference(1740)
    read = line(2, ref=None, quoted=f"{quoted[:6]} {quoted[6:]}")
    assert read.serial == 1740


def test_every_problem_of_a_line_is_reported():
    errors = read_line(
        5,
        {"amount": "0", "currency": "usd", "paid_on": "2026-12-01", "channel": "cheque"},
        CONTEXT,
    )
    assert isinstance(errors, list)
    assert {e.field for e in errors} == {
        "external_ref", "amount", "currency", "paid_on", "channel", "payer_reference"
    }  # fmt: skip


def test_a_header_must_name_accounts_somehow():
    fields = {e.field for e in check_file_header(["amount", "paid_on", "payer_reference"])}
    assert fields == {"external_ref"}
    assert check_file_header(["payment_reference", "amount", "paid_on", "payer_reference"]) == []


def test_outcomes():
    a, b = account("A-1", 11), account("B-1", 22)
    recalled = account("R-1", 33, recalled=True)
    lines = [
        line(2, payer="P1"),
        line(3, ref=None, quoted=payment_reference(22), payer="P2"),
        line(4, ref="A-1", quoted=payment_reference(22), payer="P3"),
        line(5, ref="A-1", quoted=payment_reference(11), payer="P4"),
        line(6, ref="NONE", payer="P5"),
        line(7, ref="R-1", payer="P6"),
        line(8, payer="P1"),
        line(9, payer="OLD"),
    ]
    seen: dict[str, int] = {}
    result = reconcile(lines, {"A-1": a, "B-1": b, "R-1": recalled}, {11: a, 22: b, 33: recalled},
                       {"OLD": "payment-0"}, seen)  # fmt: skip
    assert [(r.line.row_number, r.outcome) for r in result] == [
        (2, Outcome.MATCHED),
        (3, Outcome.MATCHED_BY_REFERENCE),
        (4, Outcome.UNMATCHED),
        (5, Outcome.MATCHED),
        (6, Outcome.UNMATCHED),
        (7, Outcome.UNMATCHED),
        (8, Outcome.DUPLICATE),
        (9, Outcome.DUPLICATE),
    ]
    assert result[1].account == b
    assert result[7].duplicate_of == "payment-0"
    # The next batch of the same file still knows line 2's payer reference.
    later = reconcile([line(1002, payer="P1")], {"A-1": a}, {}, {}, seen)
    assert later[0].outcome is Outcome.DUPLICATE


payer_refs = st.sampled_from(["S1", "S2", "S3", "S4", "OLD1", "OLD2"])
refs = st.sampled_from(["A-1", "B-1", "C-1", "X-9"])


@given(st.lists(st.tuples(refs, payer_refs), max_size=30), st.integers(1, 29))
def test_a_payer_reference_is_applied_at_most_once_across_batches(rows, cut):
    keys = {r: account(r, 100 + i) for i, r in enumerate(["A-1", "B-1", "C-1"])}
    lines = [line(n + 2, ref=r, payer=p) for n, (r, p) in enumerate(rows)]
    seen: dict[str, int] = {}
    earlier = {"OLD1": "p1", "OLD2": "p2"}
    result = [
        *reconcile(lines[:cut], keys, {}, earlier, seen),
        *reconcile(lines[cut:], keys, {}, earlier, seen),
    ]
    assert [r.line for r in result] == lines
    applied = [r.line.payer_reference for r in result if r.outcome in APPLIED]
    assert len(applied) == len(set(applied))
    assert not set(applied) & set(earlier)
    for r in result:
        if r.outcome in APPLIED:
            assert r.account is not None and r.account.external_ref == r.line.external_ref


def test_a_line_that_found_no_account_does_not_block_its_reference():
    a = account("A-1", 11)
    result = reconcile([line(2, ref="NOPE", payer="X"), line(3, payer="X")], {"A-1": a}, {}, {}, {})
    assert [r.outcome for r in result] == [Outcome.UNMATCHED, Outcome.MATCHED]


def test_amounts_and_references_are_plain_ascii():
    for amount in ("١٠٠.٠٠", "１.００"):
        errors = read_line(2, {"external_ref": "A-1", "amount": amount, "paid_on": "2026-11-20",
                               "payer_reference": "P"}, CONTEXT)  # fmt: skip
        assert isinstance(errors, list) and {e.field for e in errors} == {"amount"}
    hidden = read_line(2, {"external_ref": "A-1", "amount": "1.00", "paid_on": "2026-11-20",
                           "payer_reference": "XP-8\u200b"}, CONTEXT)  # fmt: skip
    assert isinstance(hidden, list) and {e.field for e in hidden} == {"payer_reference"}
