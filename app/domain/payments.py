"""Payment references (referencias de pago): the number a debtor quotes at the bank, OXXO or
in a SPEI transfer so the payment finds its account without a person matching it.

A reference is the account's serial number, zero-padded to ten digits, followed by two check
digits computed with ISO 7064 MOD 97-10 (the IBAN scheme, via python-stdnum): any single
mistyped digit and any swap of two neighbouring digits is caught.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any

from stdnum.iso7064 import mod_97_10

from app.domain.accounts import AccountStatus
from app.domain.interactions import PromiseStatus
from app.domain.money import minor_unit_of

SERIAL_DIGITS = 10
REFERENCE_LENGTH = SERIAL_DIGITS + 2


class PaymentChannel(StrEnum):
    """How a payment reached the creditor."""

    SPEI = "spei"
    CASH_STORE = "cash_store"  # OXXO and the like, quoting the payment reference
    CARD = "card"
    BRANCH = "branch"
    PARTNER_REPORT = "partner_report"  # the partner reported it (its payment files)
    # Credit moved from another account of the debtor: made by a credit movement, never
    # recorded by a client.
    CREDIT_TRANSFER = "credit_transfer"


# The channels a client (or a partner's payment file) records a payment through.
RECORDED_CHANNELS: frozenset[PaymentChannel] = frozenset(PaymentChannel) - {
    PaymentChannel.CREDIT_TRANSFER
}


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


# ---------------------------------------------------------------------------------------
# Allocation of a payment and its exact reversal
#
# One payment does two things with its money:
#
# - it is *matched* to the commitments the debtor made, in order: the active plan's
#   installments oldest first (partial payments tracked per installment), then pending
#   promises by due date; a promise whose paid amount reaches amount × (100 − tolerance)/100
#   is kept;
# - it *pays down the debt*: the past-due amount first, then the total through fees →
#   interest → principal (total = principal + interest + fees always). What the total cannot
#   absorb is a credit on the payment, never lost.
#
# Installment and promise money is money paid on the debt, so the balance parts and the
# credit always sum to the payment amount, and the matched parts never exceed it.
# Everything is Decimal; nothing is rounded (amounts arrive in cents and are only added and
# subtracted). ``reverse`` undoes exactly what ``allocate`` did.

ZERO = Decimal("0")
HUNDRED = Decimal("100")


class PaymentStatus(StrEnum):
    APPLIED = "applied"
    REVERSED = "reversed"


class InstallmentStatus(StrEnum):
    PENDING = "pending"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"


def installment_status(amount: Decimal, paid: Decimal) -> InstallmentStatus:
    if paid <= ZERO:
        return InstallmentStatus.PENDING
    return InstallmentStatus.PAID if paid >= amount else InstallmentStatus.PARTIALLY_PAID


@dataclass(frozen=True, slots=True)
class InstallmentState:
    id: str
    number: int
    due_date: date
    amount: Decimal
    paid_amount: Decimal
    status: str
    # A restructuring's installment carries interest the debtor agreed to pay: it becomes
    # debt as the installment is paid (:func:`interest_earned`).
    interest: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PromiseState:
    id: str
    due_date: date
    amount: Decimal
    paid_amount: Decimal
    status: str
    tolerance_pct: Decimal
    resolved_on: date | None


@dataclass(frozen=True, slots=True)
class BalanceState:
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    past_due_amount: Decimal
    oldest_unpaid_due_date: date | None
    dpd: int
    stage: str
    status: str
    last_payment_date: date | None
    last_payment_amount: Decimal | None


@dataclass(frozen=True, slots=True)
class AccountState:
    """What one payment may change: the active plan (its status and unpaid installments),
    the pending promises and the account's balances."""

    balance: BalanceState
    # The account's currency: a restructuring's interest is charged in its minor units.
    currency: str = "MXN"
    plan_id: str | None = None
    plan_status: str | None = None
    # A settlement that completes forgives what is left of the debt.
    plan_type: str | None = None
    installments: tuple[InstallmentState, ...] = ()
    promises: tuple[PromiseState, ...] = ()


@dataclass(frozen=True, slots=True)
class InstallmentPart:
    installment_id: str
    number: int
    amount: Decimal
    status_before: str
    status_after: str


@dataclass(frozen=True, slots=True)
class PromisePart:
    promise_id: str
    amount: Decimal
    status_before: str
    status_after: str
    resolved_on_before: date | None


@dataclass(frozen=True, slots=True)
class Allocation:
    amount: Decimal
    paid_on: date
    installments: tuple[InstallmentPart, ...]
    promises: tuple[PromisePart, ...]
    to_past_due: Decimal
    to_fees: Decimal
    to_interest: Decimal
    to_principal: Decimal
    credit: Decimal
    plan_id: str | None
    plan_completed: bool
    account_closed: bool
    # What the account looked like before, for the fields a payment sets outright.
    before: BalanceState
    # The interest of a restructuring's installments this payment paid, charged to the
    # account just before the payment met it.
    plan_interest: Decimal = ZERO
    # The debt a completed settlement forgave (the "quita"), by component.
    forgiven_past_due: Decimal = ZERO
    forgiven_fees: Decimal = ZERO
    forgiven_interest: Decimal = ZERO
    forgiven_principal: Decimal = ZERO

    @property
    def forgiven(self) -> Decimal:
        return self.forgiven_fees + self.forgiven_interest + self.forgiven_principal

    @property
    def to_balance(self) -> Decimal:
        return self.to_fees + self.to_interest + self.to_principal

    def as_json(self) -> dict[str, Any]:
        """The stored form (decimals and dates as strings)."""
        b = self.before
        return {
            "amount": str(self.amount),
            "paid_on": self.paid_on.isoformat(),
            "installments": [
                {"installment_id": p.installment_id, "number": p.number, "amount": str(p.amount),
                 "status_before": p.status_before, "status_after": p.status_after}
                for p in self.installments
            ],
            "promises": [
                {"promise_id": p.promise_id, "amount": str(p.amount),
                 "status_before": p.status_before, "status_after": p.status_after,
                 "resolved_on_before": _iso(p.resolved_on_before)}
                for p in self.promises
            ],
            "balance": {"past_due": str(self.to_past_due), "fees": str(self.to_fees),
                        "interest": str(self.to_interest), "principal": str(self.to_principal)},
            "credit": str(self.credit),
            "plan_interest": str(self.plan_interest),
            "forgiven": {"past_due": str(self.forgiven_past_due), "fees": str(self.forgiven_fees),
                         "interest": str(self.forgiven_interest),
                         "principal": str(self.forgiven_principal)},
            "plan_id": self.plan_id,
            "plan_completed": self.plan_completed,
            "account_closed": self.account_closed,
            "before": {
                "principal": str(b.principal), "interest": str(b.interest), "fees": str(b.fees),
                "total": str(b.total), "past_due_amount": str(b.past_due_amount),
                "oldest_unpaid_due_date": _iso(b.oldest_unpaid_due_date), "dpd": b.dpd,
                "stage": b.stage, "status": b.status,
                "last_payment_date": _iso(b.last_payment_date),
                "last_payment_amount": None if b.last_payment_amount is None
                else str(b.last_payment_amount),
            },
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Allocation:
        b = data["before"]
        bal = data["balance"]
        gone = data.get("forgiven") or {}
        return cls(
            amount=Decimal(data["amount"]),
            paid_on=date.fromisoformat(data["paid_on"]),
            installments=tuple(
                InstallmentPart(p["installment_id"], p["number"], Decimal(p["amount"]),
                                p["status_before"], p["status_after"])
                for p in data["installments"]
            ),
            promises=tuple(
                PromisePart(p["promise_id"], Decimal(p["amount"]), p["status_before"],
                            p["status_after"], _date(p["resolved_on_before"]))
                for p in data["promises"]
            ),
            to_past_due=Decimal(bal["past_due"]),
            to_fees=Decimal(bal["fees"]),
            to_interest=Decimal(bal["interest"]),
            to_principal=Decimal(bal["principal"]),
            credit=Decimal(data["credit"]),
            plan_id=data["plan_id"],
            plan_completed=data["plan_completed"],
            account_closed=data["account_closed"],
            before=BalanceState(
                principal=Decimal(b["principal"]), interest=Decimal(b["interest"]),
                fees=Decimal(b["fees"]), total=Decimal(b["total"]),
                past_due_amount=Decimal(b["past_due_amount"]),
                oldest_unpaid_due_date=_date(b["oldest_unpaid_due_date"]), dpd=b["dpd"],
                stage=b["stage"], status=b["status"],
                last_payment_date=_date(b["last_payment_date"]),
                last_payment_amount=None if b["last_payment_amount"] is None
                else Decimal(b["last_payment_amount"]),
            ),
            plan_interest=Decimal(data.get("plan_interest", "0")),
            forgiven_past_due=Decimal(gone.get("past_due", "0")),
            forgiven_fees=Decimal(gone.get("fees", "0")),
            forgiven_interest=Decimal(gone.get("interest", "0")),
            forgiven_principal=Decimal(gone.get("principal", "0")),
        )  # fmt: skip


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def promise_needed(amount: Decimal, tolerance_pct: Decimal) -> Decimal:
    """What must be paid for a promise to count as kept."""
    return amount * (HUNDRED - tolerance_pct) / HUNDRED


CURRENT_STAGE = "current"


def interest_earned(inst: InstallmentState, paid: Decimal, currency: str) -> Decimal:
    """The part of a restructured installment's interest that ``paid`` of it has earned:
    pro rata, rounded down to the minor unit, and all of it once the installment is paid,
    so the parts charged over an installment's payments add up to its interest exactly."""
    if not inst.interest or paid <= ZERO:
        return ZERO
    if paid >= inst.amount:
        return inst.interest
    step = Decimal(1).scaleb(-minor_unit_of(currency))
    return (inst.interest * paid / inst.amount).quantize(step, rounding=ROUND_DOWN)


def allocate(
    state: AccountState, amount: Decimal, paid_on: date
) -> tuple[AccountState, Allocation]:
    """Apply ``amount`` paid on ``paid_on``: the state after, and what was done."""
    if amount <= ZERO:
        raise ValueError("a payment amount is positive")
    # Commitments: installments oldest first, then pending promises by due date.
    left = amount
    # The state after keeps the rows in the order they came; only the money goes in order.
    paid_inst: dict[str, InstallmentState] = {}
    inst_parts: list[InstallmentPart] = []
    plan_interest = ZERO
    for inst in sorted(state.installments, key=lambda i: (i.due_date, i.number)):
        take = min(left, max(ZERO, inst.amount - inst.paid_amount))
        if take > ZERO:
            paid = inst.paid_amount + take
            plan_interest += interest_earned(inst, paid, state.currency) - interest_earned(
                inst, inst.paid_amount, state.currency
            )
            status = installment_status(inst.amount, paid).value
            inst_parts.append(InstallmentPart(inst.id, inst.number, take, inst.status, status))
            paid_inst[inst.id] = replace(inst, paid_amount=paid, status=status)
            left -= take
    installments = [paid_inst.get(i.id, i) for i in state.installments]
    paid_prom: dict[str, PromiseState] = {}
    prom_parts: list[PromisePart] = []
    for prom in sorted(state.promises, key=lambda p: (p.due_date, p.id)):
        take = min(left, max(ZERO, prom.amount - prom.paid_amount))
        if prom.status == PromiseStatus.PENDING and take > ZERO:
            paid = prom.paid_amount + take
            kept = paid >= promise_needed(prom.amount, prom.tolerance_pct)
            status = PromiseStatus.KEPT if kept else prom.status
            resolved = paid_on if kept else prom.resolved_on
            prom_parts.append(PromisePart(prom.id, take, prom.status, status, prom.resolved_on))
            paid_prom[prom.id] = replace(
                prom, paid_amount=paid, status=status, resolved_on=resolved
            )
            left -= take
    promises = [paid_prom.get(p.id, p) for p in state.promises]
    plan_status = state.plan_status
    plan_completed = bool(
        plan_status == "active"
        and installments
        and inst_parts
        and all(i.status == InstallmentStatus.PAID for i in installments)
    )
    if plan_completed:
        plan_status = "completed"

    # The debt: past due first, then fees → interest → principal; the rest is credit.
    # Under a settlement the debt takes no more than the plan still asks for: what the
    # debtor pays beyond the agreed amount is credit, so the discount stays exactly
    # original − agreed.
    # A restructuring's interest becomes debt as its installments are paid.
    b = replace(
        state.balance,
        interest=state.balance.interest + plan_interest,
        total=state.balance.total + plan_interest,
    )
    to_balance = min(amount, b.total)
    if state.plan_status == "active" and state.plan_type == "settlement":
        still_owed = sum((max(ZERO, i.amount - i.paid_amount) for i in state.installments), ZERO)
        to_balance = min(to_balance, still_owed)
    to_past_due = min(to_balance, b.past_due_amount)
    to_fees = min(to_balance, b.fees)
    to_interest = min(to_balance - to_fees, b.interest)
    to_principal = to_balance - to_fees - to_interest
    credit = amount - to_balance
    fees = b.fees - to_fees
    interest = b.interest - to_interest
    principal = b.principal - to_principal
    past_due = b.past_due_amount - to_past_due
    # A completed settlement closes the debt: what is left is the agreed discount, forgiven.
    settled = plan_completed and state.plan_type == "settlement"
    forgiven = (past_due, fees, interest, principal) if settled else (ZERO, ZERO, ZERO, ZERO)
    if settled:
        past_due = fees = interest = principal = ZERO
    total = principal + interest + fees
    cleared = past_due == ZERO and b.oldest_unpaid_due_date is not None
    account_closed = total == ZERO and b.status == AccountStatus.ACTIVE
    after = replace(
        b,
        principal=principal,
        interest=interest,
        fees=fees,
        total=total,
        past_due_amount=past_due,
        oldest_unpaid_due_date=None if cleared else b.oldest_unpaid_due_date,
        dpd=0 if cleared else b.dpd,
        stage=CURRENT_STAGE if cleared else b.stage,
        status=AccountStatus.CLOSED if account_closed else b.status,
        last_payment_date=paid_on,
        last_payment_amount=amount,
    )
    allocation = Allocation(
        amount=amount,
        paid_on=paid_on,
        installments=tuple(inst_parts),
        promises=tuple(prom_parts),
        to_past_due=to_past_due,
        to_fees=to_fees,
        to_interest=to_interest,
        to_principal=to_principal,
        credit=credit,
        plan_id=state.plan_id,
        plan_completed=plan_completed,
        account_closed=account_closed,
        before=state.balance,
        plan_interest=plan_interest,
        forgiven_past_due=forgiven[0],
        forgiven_fees=forgiven[1],
        forgiven_interest=forgiven[2],
        forgiven_principal=forgiven[3],
    )
    new_state = replace(
        state,
        balance=after,
        plan_status=plan_status,
        installments=tuple(installments),
        promises=tuple(promises),
    )
    return new_state, allocation


def reverse(state: AccountState, allocation: Allocation) -> AccountState:
    """Undo ``allocation`` on ``state`` (which holds at least the rows it touched).

    Amounts are subtracted back, so a later payment on the same rows keeps its effect;
    statuses and the fields a payment sets outright go back to what they were before when
    this payment is what changed them."""
    inst_by_id = {p.installment_id: p for p in allocation.installments}
    installments = []
    for inst in state.installments:
        part = inst_by_id.get(inst.id)
        if part is not None:
            paid = inst.paid_amount - part.amount
            inst = replace(inst, paid_amount=paid, status=installment_status(inst.amount, paid))
        installments.append(inst)
    prom_by_id = {p.promise_id: p for p in allocation.promises}
    promises = []
    for prom in state.promises:
        ppart = prom_by_id.get(prom.id)
        if ppart is not None:
            paid = prom.paid_amount - ppart.amount
            if ppart.status_after != ppart.status_before and prom.status == ppart.status_after:
                still = paid >= promise_needed(prom.amount, prom.tolerance_pct)
                if not still:
                    prom = replace(
                        prom, status=ppart.status_before, resolved_on=ppart.resolved_on_before
                    )
            prom = replace(prom, paid_amount=paid)
        promises.append(prom)
    plan_status = state.plan_status
    if allocation.plan_completed and plan_status == "completed":
        plan_status = "active"

    b = state.balance
    before = allocation.before
    fees = b.fees + allocation.to_fees + allocation.forgiven_fees
    interest = (
        b.interest
        + allocation.to_interest
        + allocation.forgiven_interest
        - allocation.plan_interest
    )
    principal = b.principal + allocation.to_principal + allocation.forgiven_principal
    past_due = b.past_due_amount + allocation.to_past_due + allocation.forgiven_past_due
    restored = replace(
        b,
        principal=principal,
        interest=interest,
        fees=fees,
        total=principal + interest + fees,
        past_due_amount=past_due,
    )
    if (
        before.oldest_unpaid_due_date is not None
        and b.oldest_unpaid_due_date is None
        and past_due > ZERO
    ):
        restored = replace(
            restored,
            oldest_unpaid_due_date=before.oldest_unpaid_due_date,
            dpd=before.dpd,
            stage=before.stage,
        )
    if allocation.account_closed and b.status == "closed":
        restored = replace(restored, status=before.status)
    if b.last_payment_date == allocation.paid_on and b.last_payment_amount == allocation.amount:
        restored = replace(
            restored,
            last_payment_date=before.last_payment_date,
            last_payment_amount=before.last_payment_amount,
        )
    return replace(
        state,
        balance=restored,
        plan_status=plan_status,
        installments=tuple(installments),
        promises=tuple(promises),
    )
