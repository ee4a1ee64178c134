"""Credit movements: credit ("saldo a favor") leaving an account, refunded to the debtor or
moved to another account of the same debtor and partner.

Rules (pure; app/services/credit_movements.py loads, locks and writes):

- Team leads, managers and admins ask for a movement on an account they can see. A manager
  or admin asking for at most the self-approval limit of the account's currency (included;
  ``Settings.credit_self_approval_limits``) has it done at once; a larger amount, a currency
  with no limit, or any team lead request waits for a manager or admin who is not the
  requester (maker-checker, as plans: the requester is a 403).
- The amount is more than zero, in the currency's minor units, and at most the account's
  credit both when asked and when done (checked again under the account's row lock).
- A transfer goes to another active account of the same debtor and partner, in the same
  currency; the receiving account takes the money as a payment, applied as any payment.
- What a movement writes: a refund, ``credit_refund`` −amount on ``credit``; a transfer,
  ``credit_transfer_out`` −amount on ``credit`` of the source and, on the target, the
  entries of its payment (``payment`` per component it paid, and credit if it overpaid).
  Nothing is written while it waits or when it is rejected.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from app.domain.errors import CreditInsufficient, CreditTransferTargetRefused
from app.domain.ledger import Component, Posting, to_minor
from app.domain.roles import Role
from app.i18n import N_


class MovementKind(StrEnum):
    REFUND = "refund"
    TRANSFER = "transfer"


class MovementStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    DONE = "done"
    REJECTED = "rejected"


MOVEMENT_STATUS_WORDS = {
    MovementStatus.PENDING_APPROVAL.value: N_("pending approval"),
    MovementStatus.DONE.value: N_("done"),
    MovementStatus.REJECTED.value: N_("rejected"),
}


REQUESTERS: frozenset[Role] = frozenset({Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN})
DECIDERS: frozenset[Role] = frozenset({Role.MANAGER, Role.ADMIN})


def initial_status(
    role: Role, amount: Decimal, currency: str, limits: Mapping[str, Decimal]
) -> MovementStatus:
    """``done`` when a manager or admin asks for no more than their currency's limit."""
    limit = limits.get(currency)
    if role in DECIDERS and limit is not None and amount <= limit:
        return MovementStatus.DONE
    return MovementStatus.PENDING_APPROVAL


def check_available(credit: Decimal, amount: Decimal) -> None:
    """Refuse taking more credit than the account holds."""
    if amount > credit:
        raise CreditInsufficient({"available": str(credit), "requested": str(amount)})


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What the transfer rule reads of an account."""

    id: uuid.UUID
    debtor_id: uuid.UUID
    partner_id: uuid.UUID
    currency: str
    status: str


def check_transfer_target(source: AccountFacts, target: AccountFacts) -> None:
    """Another active account of the same debtor and partner, in the same currency."""
    reason = None
    if target.id == source.id:
        reason = "same_account"
    elif target.partner_id != source.partner_id:
        reason = "other_partner"
    elif target.debtor_id != source.debtor_id:
        reason = "other_debtor"
    elif target.currency != source.currency:
        reason = "other_currency"
    elif target.status != "active":
        reason = "not_active"
    if reason is not None:
        raise CreditTransferTargetRefused({"reason": reason})


def credit_out_postings(amount: Decimal, currency: str) -> list[Posting]:
    """The credit leaving the source account (a refund or a transfer's outgoing side)."""
    return [Posting(Component.CREDIT, -to_minor(amount, currency))]
