"""Credit movement rules: who does it at once, what credit allows, where a transfer may go."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from app.config import DEFAULT_CREDIT_SELF_APPROVAL_LIMITS as LIMITS
from app.domain.credit_movements import (
    AccountFacts,
    MovementStatus,
    check_available,
    check_transfer_target,
    credit_out_postings,
    initial_status,
)
from app.domain.errors import CreditInsufficient, CreditTransferTargetRefused
from app.domain.ledger import Component, Posting
from app.domain.roles import Role

DONE, PENDING = MovementStatus.DONE, MovementStatus.PENDING_APPROVAL


@pytest.mark.parametrize(
    ("role", "amount", "currency", "expected"),
    [
        (Role.MANAGER, "5000", "MXN", DONE),
        (Role.ADMIN, "5000", "MXN", DONE),
        (Role.MANAGER, "5000.01", "MXN", PENDING),
        (Role.TEAM_LEAD, "0.01", "MXN", PENDING),
        (Role.MANAGER, "500000", "CLP", DONE),
        (Role.MANAGER, "1", "EUR", PENDING),  # no limit set: always a second person
    ],
)
def test_who_does_it_at_once(role, amount, currency, expected):
    assert initial_status(role, Decimal(amount), currency, LIMITS) is expected


def test_no_more_than_the_credit():
    check_available(Decimal("10.00"), Decimal("10.00"))
    with pytest.raises(CreditInsufficient):
        check_available(Decimal("10.00"), Decimal("10.01"))


def _facts(**overrides: object) -> AccountFacts:
    fields: dict[str, object] = {
        "id": uuid.uuid4(), "debtor_id": DEBTOR, "partner_id": PARTNER, "currency": "MXN",
        "status": "active",
    }  # fmt: skip
    return AccountFacts(**(fields | overrides))  # type: ignore[arg-type]


DEBTOR, PARTNER = uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ({"debtor_id": uuid.uuid4()}, "other_debtor"),
        ({"partner_id": uuid.uuid4()}, "other_partner"),
        ({"currency": "USD"}, "other_currency"),
        ({"status": "recalled"}, "not_active"),
        ({"status": "closed"}, "not_active"),
    ],
)
def test_where_a_transfer_may_not_go(target, reason):
    with pytest.raises(CreditTransferTargetRefused) as refused:
        check_transfer_target(_facts(), _facts(**target))
    assert refused.value.params == {"reason": reason}


def test_a_transfer_goes_to_another_account_of_the_debtor():
    source = _facts()
    check_transfer_target(source, _facts())
    with pytest.raises(CreditTransferTargetRefused):
        check_transfer_target(source, source)


def test_credit_leaves_in_minor_units():
    assert credit_out_postings(Decimal("12.34"), "MXN") == [Posting(Component.CREDIT, -1234)]
    assert credit_out_postings(Decimal("850"), "CLP") == [Posting(Component.CREDIT, -850)]
