"""The account ledger: every movement of money on an account is an append-only entry.

An account carries five balances, its *components*: ``principal``, ``interest`` and
``fees`` (which add up to the total owed), ``past_due`` (the part of the total already due,
tracked on its own because reports and aging read it) and ``credit`` (money received beyond
what was owed: "saldo a favor", refunded or moved, never lost). Each component is, at every
moment, the sum of the account's entries for it. Nothing else moves money.

Entries are integers in the currency's minor units (ISO 4217 exponent: centavos for MXN,
pesos for CLP), signed: a charge raises a component, a payment or forgiveness lowers it. A
reversal writes the mirror of the entries it undoes (same component, opposite sign) and
points at each, so history is never edited.

Entry kinds, and who writes them:

============================  ===========================================================
``opening``                   the balances a partner sent when it assigned the account
``partner_adjustment``        the difference a partner's later push made (a refresh)
``payment``                   money of a payment applied to a component (negative) or kept
                              as credit (positive on ``credit``)
``plan_interest``             a restructuring's interest, charged as each installment is
                              paid (the plan's interest total once all are)
``forgiveness``               the discount ("quita") a completed settlement forgave
``reversal``                  the mirror of an entry of a reversed payment or refund
``credit_refund``             credit paid back to the debtor (negative on ``credit``)
``credit_transfer_out``       credit moved to another account of the same debtor and
                              partner (negative on ``credit``); the other account takes
                              the money as a payment (channel ``credit_transfer``), so its
                              side is ``payment`` entries carrying the same movement id
============================  ===========================================================

Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from app.domain.money import from_minor, to_minor
from app.domain.payments import Allocation


class Component(StrEnum):
    PRINCIPAL = "principal"
    INTEREST = "interest"
    FEES = "fees"
    PAST_DUE = "past_due"
    CREDIT = "credit"


class EntryKind(StrEnum):
    OPENING = "opening"
    PARTNER_ADJUSTMENT = "partner_adjustment"
    PAYMENT = "payment"
    PLAN_INTEREST = "plan_interest"
    FORGIVENESS = "forgiveness"
    REVERSAL = "reversal"
    CREDIT_REFUND = "credit_refund"
    CREDIT_TRANSFER_OUT = "credit_transfer_out"


# The components whose sum is what the debtor owes.
DEBT_COMPONENTS: tuple[Component, ...] = (Component.PRINCIPAL, Component.INTEREST, Component.FEES)


@dataclass(frozen=True, slots=True)
class Posting:
    """One entry to write: which component moves and by how much (signed, minor units)."""

    component: Component
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Balances:
    """An account's components as stored on the account row."""

    principal: Decimal
    interest: Decimal
    fees: Decimal
    past_due: Decimal
    credit: Decimal

    def of(self, component: Component) -> Decimal:
        return {
            Component.PRINCIPAL: self.principal,
            Component.INTEREST: self.interest,
            Component.FEES: self.fees,
            Component.PAST_DUE: self.past_due,
            Component.CREDIT: self.credit,
        }[component]


def _postings(pairs: Iterable[tuple[Component, Decimal]], currency: str) -> list[Posting]:
    return [
        Posting(component, units)
        for component, amount in pairs
        if (units := to_minor(amount, currency)) != 0
    ]


def opening_postings(balances: Balances, currency: str) -> list[Posting]:
    """The entries that open an account at ``balances``."""
    return _postings(((c, balances.of(c)) for c in Component), currency)


def adjustment_postings(before: Balances, after: Balances, currency: str) -> list[Posting]:
    """The entries that take an account from ``before`` to ``after`` (a partner's refresh)."""
    return _postings(((c, after.of(c) - before.of(c)) for c in Component), currency)


def payment_postings(allocation: Allocation, currency: str) -> list[Posting]:
    """What a payment moved: each component it paid down (negative) and its credit."""
    return _postings(
        (
            (Component.PAST_DUE, -allocation.to_past_due),
            (Component.FEES, -allocation.to_fees),
            (Component.INTEREST, -allocation.to_interest),
            (Component.PRINCIPAL, -allocation.to_principal),
            (Component.CREDIT, allocation.credit),
        ),
        currency,
    )


def plan_interest_postings(allocation: Allocation, currency: str) -> list[Posting]:
    """The restructuring interest a payment's installments earned, charged before it."""
    return _postings(((Component.INTEREST, allocation.plan_interest),), currency)


def forgiveness_postings(allocation: Allocation, currency: str) -> list[Posting]:
    """What a completed settlement forgave, by component."""
    return _postings(
        (
            (Component.PAST_DUE, -allocation.forgiven_past_due),
            (Component.FEES, -allocation.forgiven_fees),
            (Component.INTEREST, -allocation.forgiven_interest),
            (Component.PRINCIPAL, -allocation.forgiven_principal),
        ),
        currency,
    )


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A component whose stored balance is not the sum of its entries."""

    component: Component
    stored: Decimal
    entries: Decimal


def disagreements(
    stored: Balances, sums_minor: Mapping[Component, int], currency: str
) -> list[Disagreement]:
    """Every component where the account row and the sum of its entries differ."""
    found = []
    for component in Component:
        entries = from_minor(sums_minor.get(component, 0), currency)
        if stored.of(component) != entries:
            found.append(Disagreement(component, stored.of(component), entries))
    return found
