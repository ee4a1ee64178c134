"""The account ledger: every movement of money, read through the account."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.deps import PrincipalDep, SessionDep
from app.domain.money import from_minor
from app.models.ledger import LedgerEntry
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.ledger import LedgerEntryRead
from app.services import ledger

router = APIRouter(tags=["ledger"])


def _entry_read(entry: LedgerEntry) -> LedgerEntryRead:
    assert entry.seq is not None
    return LedgerEntryRead(
        seq=entry.seq,
        kind=entry.kind,
        component=entry.component,
        amount=from_minor(entry.amount_minor, entry.currency),
        amount_minor=entry.amount_minor,
        currency=entry.currency,
        as_of=entry.as_of,
        occurred_at=entry.occurred_at,
        actor_id=entry.actor_id,
        payment_id=entry.payment_id,
        plan_id=entry.plan_id,
        assignment_id=entry.assignment_id,
        credit_movement_id=entry.credit_movement_id,
        reverses_seq=entry.reverses_seq,
    )


@router.get(
    "/accounts/{account_id}/ledger",
    summary="Read an account's ledger",
    response_model=Page[LedgerEntryRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_ledger_entries(
    session: SessionDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[LedgerEntryRead]:
    """Every movement of money on the account, oldest first: the balances a partner sent,
    each payment's effect per component, a settlement's forgiveness, credit, refunds,
    transfers and reversals (which mirror the entries they undo). Each component of the
    account is the sum of its entries; `cartera ledger verify` proves it for every account."""
    _account, entries, next_cursor = await ledger.list_entries(
        session, principal, account_id, limit=limit, cursor=cursor
    )
    return Page(items=[_entry_read(e) for e in entries], next_cursor=next_cursor)
