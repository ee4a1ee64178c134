"""Payment allocation: installments oldest first, then pending promises, then the balance;
overpayment becomes credit; and a reversal gives back exactly the state before."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.payments import (
    AccountState,
    Allocation,
    BalanceState,
    InstallmentState,
    PromiseState,
    allocate,
    installment_status,
    reverse,
)

D = Decimal
TODAY = date(2026, 11, 24)


def balance(
    principal: str = "1000.00",
    interest: str = "100.00",
    fees: str = "50.00",
    past_due: str = "300.00",
    dpd: int = 40,
) -> BalanceState:
    p, i, f = D(principal), D(interest), D(fees)
    return BalanceState(
        principal=p,
        interest=i,
        fees=f,
        total=p + i + f,
        past_due_amount=D(past_due),
        oldest_unpaid_due_date=TODAY - timedelta(days=dpd) if D(past_due) > 0 else None,
        dpd=dpd if D(past_due) > 0 else 0,
        stage="mid" if D(past_due) > 0 else "current",
        status="active",
        last_payment_date=None,
        last_payment_amount=None,
    )


def installment(number: int, amount: str, paid: str = "0", days: int = 0) -> InstallmentState:
    a, p = D(amount), D(paid)
    return InstallmentState(
        id=f"i{number}",
        number=number,
        due_date=TODAY + timedelta(days=30 * number + days),
        amount=a,
        paid_amount=p,
        status=installment_status(a, p).value,
    )


def promise(key: str, amount: str, days: int, tolerance: str = "0") -> PromiseState:
    return PromiseState(
        id=key,
        due_date=TODAY + timedelta(days=days),
        amount=D(amount),
        paid_amount=D("0"),
        status="pending",
        tolerance_pct=D(tolerance),
        resolved_on=None,
    )


def test_installments_oldest_first_then_promises_then_balance():
    ledger = AccountState(
        balance=balance(),
        plan_id="plan",
        plan_status="active",
        # Given out of order: the oldest due date is paid first.
        installments=(installment(2, "100.00"), installment(1, "100.00")),
        promises=(promise("late", "50.00", 20), promise("early", "50.00", 5)),
    )
    after, alloc = allocate(ledger, D("260.00"), TODAY)
    assert [(p.installment_id, p.amount) for p in alloc.installments] == [
        ("i1", D("100.00")),
        ("i2", D("100.00")),
    ]
    assert [(p.promise_id, p.amount) for p in alloc.promises] == [
        ("early", D("50.00")),
        ("late", D("10.00")),
    ]
    by_id = {p.id: p for p in after.promises}
    assert by_id["early"].status == "kept" and by_id["early"].resolved_on == TODAY
    assert by_id["late"].status == "pending" and by_id["late"].paid_amount == D("10.00")
    assert after.plan_status == "completed" and alloc.plan_completed
    # All the money paid down the debt: fees, then interest, then principal.
    assert (alloc.to_fees, alloc.to_interest, alloc.to_principal) == (
        D("50.00"),
        D("100.00"),
        D("110.00"),
    )
    assert after.balance.total == D("890.00")
    assert after.balance.past_due_amount == D("40.00")
    assert after.balance.last_payment_date == TODAY
    assert after.balance.last_payment_amount == D("260.00")


def test_partial_installment_payments_are_tracked():
    ledger = AccountState(
        balance=balance(),
        plan_id="plan",
        plan_status="active",
        installments=(installment(1, "100.00"), installment(2, "100.00")),
    )
    after, alloc = allocate(ledger, D("60.00"), TODAY)
    first, second = after.installments
    assert (first.paid_amount, first.status) == (D("60.00"), "partially_paid")
    assert (second.paid_amount, second.status) == (D("0"), "pending")
    assert alloc.installments[0].status_before == "pending"
    after2, alloc2 = allocate(after, D("60.00"), TODAY)
    first, second = after2.installments
    assert (first.paid_amount, first.status) == (D("100.00"), "paid")
    assert (second.paid_amount, second.status) == (D("20.00"), "partially_paid")
    assert [p.amount for p in alloc2.installments] == [D("40.00"), D("20.00")]
    assert after2.plan_status == "active"


def test_promise_kept_within_tolerance():
    ledger = AccountState(balance=balance(), promises=(promise("p", "100.00", 3, tolerance="5"),))
    after, _ = allocate(ledger, D("95.00"), TODAY)
    assert after.promises[0].status == "kept"
    after, _ = allocate(ledger, D("94.99"), TODAY)
    assert after.promises[0].status == "pending"


def test_overpayment_becomes_credit_and_the_account_closes():
    ledger = AccountState(balance=balance())
    after, alloc = allocate(ledger, D("1200.00"), TODAY)
    assert alloc.credit == D("50.00")
    assert alloc.to_balance == D("1150.00")
    b = after.balance
    assert (b.principal, b.interest, b.fees, b.total) == (D("0"), D("0"), D("0"), D("0"))
    assert b.status == "closed" and alloc.account_closed
    assert b.past_due_amount == 0 and b.oldest_unpaid_due_date is None
    assert (b.dpd, b.stage) == (0, "current")


def test_clearing_the_past_due_makes_the_account_current_at_once():
    after, alloc = allocate(AccountState(balance=balance()), D("300.00"), TODAY)
    assert alloc.to_past_due == D("300.00")
    assert after.balance.oldest_unpaid_due_date is None
    assert (after.balance.dpd, after.balance.stage, after.balance.status) == (
        0,
        "current",
        "active",
    )
    # Short of the past due: DPD and stage stay.
    after, _ = allocate(AccountState(balance=balance()), D("299.99"), TODAY)
    assert (after.balance.dpd, after.balance.stage) == (40, "mid")


def test_reversal_restores_the_exact_prior_state():
    ledger = AccountState(
        balance=balance(),
        plan_id="plan",
        plan_status="active",
        installments=(installment(1, "100.00", paid="30.00"),),
        promises=(promise("p", "50.00", 3),),
    )
    after, alloc = allocate(ledger, D("2000.00"), TODAY)
    assert after.balance.status == "closed" and after.plan_status == "completed"
    assert reverse(after, Allocation.from_json(alloc.as_json())) == ledger


def test_reversal_keeps_a_later_payments_effect():
    ledger = AccountState(
        balance=balance(),
        plan_id="plan",
        plan_status="active",
        installments=(installment(1, "100.00"), installment(2, "100.00")),
    )
    mid, first = allocate(ledger, D("100.00"), TODAY)
    end, _ = allocate(mid, D("50.00"), TODAY + timedelta(days=1))
    undone = reverse(end, first)
    one, two = undone.installments
    # Exactly what the first payment did comes off; the second's 50 stay where they went.
    assert (one.paid_amount, one.status) == (D("0.00"), "pending")
    assert (two.paid_amount, two.status) == (D("50.00"), "partially_paid")
    assert undone.balance.total == ledger.balance.total - D("50.00")
    # The later payment is still the last one.
    assert undone.balance.last_payment_amount == D("50.00")


def test_non_positive_amount_is_refused():
    with pytest.raises(ValueError):
        allocate(AccountState(balance=balance()), D("0"), TODAY)


# ---------------------------------------------------------------------------------------
# Properties

cents = st.integers(min_value=0, max_value=500_000).map(lambda c: D(c).scaleb(-2))
positive_cents = st.integers(min_value=1, max_value=800_000).map(lambda c: D(c).scaleb(-2))


@st.composite
def ledgers(draw: st.DrawFn) -> AccountState:
    principal, interest, fees = draw(cents), draw(cents), draw(cents)
    total = principal + interest + fees
    past_due = draw(st.integers(min_value=0, max_value=int(total * 100))).__index__()
    past_due_amount = D(past_due).scaleb(-2)
    dpd = draw(st.integers(min_value=1, max_value=400)) if past_due_amount > 0 else 0
    bal = BalanceState(
        principal=principal,
        interest=interest,
        fees=fees,
        total=total,
        past_due_amount=past_due_amount,
        oldest_unpaid_due_date=TODAY - timedelta(days=dpd) if dpd else None,
        dpd=dpd,
        stage=draw(st.sampled_from(["early", "mid", "late"])) if dpd else "current",
        status="active",
        last_payment_date=draw(st.none() | st.just(TODAY - timedelta(days=90))),
        last_payment_amount=None,
    )
    bal = replace(bal, last_payment_amount=None if bal.last_payment_date is None else D("10.00"))
    n = draw(st.integers(min_value=0, max_value=5))
    installments = []
    for number in range(1, n + 1):
        amount = draw(positive_cents)
        paid = draw(st.sampled_from([D("0"), amount / 2, amount])).quantize(D("0.01"))
        installments.append(
            InstallmentState(
                id=f"i{number}",
                number=number,
                due_date=TODAY + timedelta(days=30 * number),
                amount=amount,
                paid_amount=paid,
                status=installment_status(amount, paid).value,
            )
        )
    promises = tuple(
        PromiseState(
            id=f"p{k}",
            due_date=TODAY + timedelta(days=draw(st.integers(0, 30))),
            amount=draw(positive_cents),
            paid_amount=D("0"),
            status="pending",
            tolerance_pct=draw(st.sampled_from([D("0"), D("5"), D("10.5")])),
            resolved_on=None,
        )
        for k in range(draw(st.integers(min_value=0, max_value=3)))
    )
    return AccountState(
        balance=bal,
        plan_id="plan" if n else None,
        plan_status="active" if n else None,
        installments=tuple(installments),
        promises=promises,
    )


@settings(max_examples=300, deadline=None)
@given(ledger=ledgers(), amount=positive_cents)
def test_allocating_then_reversing_gives_back_the_same_state(ledger: AccountState, amount: Decimal):
    after, alloc = allocate(ledger, amount, TODAY)
    assert reverse(after, alloc) == ledger
    # And through the stored form too.
    assert reverse(after, Allocation.from_json(alloc.as_json())) == ledger


@settings(max_examples=300, deadline=None)
@given(ledger=ledgers(), amount=positive_cents)
def test_allocations_always_sum_to_the_payment(ledger: AccountState, amount: Decimal):
    after, alloc = allocate(ledger, amount, TODAY)
    assert alloc.to_fees + alloc.to_interest + alloc.to_principal + alloc.credit == amount
    matched = sum((p.amount for p in alloc.installments), D(0)) + sum(
        (p.amount for p in alloc.promises), D(0)
    )
    assert matched <= amount
    assert min(alloc.to_fees, alloc.to_interest, alloc.to_principal, alloc.credit) >= 0
    b = after.balance
    assert b.total == b.principal + b.interest + b.fees
    assert min(b.principal, b.interest, b.fees, b.past_due_amount) >= 0
    assert b.total == ledger.balance.total - alloc.to_balance
    for inst in after.installments:
        assert 0 <= inst.paid_amount <= inst.amount
        assert inst.status == installment_status(inst.amount, inst.paid_amount)
    # Installments are met before any promise gets money.
    if alloc.promises:
        assert all(i.status == "paid" for i in after.installments)


def test_a_completed_settlement_forgives_the_rest_and_closes_the_account():
    # Balance 1,150.00 settled for 800.00 in one payment: 350.00 forgiven.
    ledger = AccountState(
        balance=balance(),
        plan_id="plan",
        plan_status="active",
        plan_type="settlement",
        installments=(installment(1, "800.00"),),
    )
    after, alloc = allocate(ledger, D("800.00"), TODAY)
    assert alloc.plan_completed and after.plan_status == "completed"
    assert after.balance.total == D("0") and after.balance.status == "closed"
    assert after.balance.past_due_amount == D("0") and after.balance.stage == "current"
    assert alloc.forgiven == D("350.00")
    assert alloc.to_balance + alloc.forgiven == D("1150.00")
    # Stored and read back, the reversal brings the whole debt back.
    stored = type(alloc).from_json(alloc.as_json())
    assert reverse(after, stored) == ledger


def test_a_settlement_not_yet_complete_forgives_nothing():
    ledger = AccountState(
        balance=balance(),
        plan_id="plan",
        plan_status="active",
        plan_type="settlement",
        installments=(installment(1, "400.00"), installment(2, "400.00")),
    )
    after, alloc = allocate(ledger, D("400.00"), TODAY)
    assert not alloc.plan_completed and alloc.forgiven == D("0")
    assert after.balance.total == D("750.00")
