"""Credit movements: credit ("saldo a favor") refunded to the debtor or moved to another
account of the same debtor and partner, with maker-checker above a limit."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from app.config import DEFAULT_CREDIT_SELF_APPROVAL_LIMITS
from app.contract import LOCATION, response_headers
from app.deps import API_PREFIX, PrincipalDep, SessionDep, SettingsDep
from app.models.ledger import CreditMovement
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.credit_movements import (
    CreditMovementApproval,
    CreditMovementRead,
    CreditMovementRejection,
    CreditRefundCreate,
    CreditTransferCreate,
)
from app.services import credit_movements as service

router = APIRouter(tags=["ledger"])

_LIMITS = ", ".join(f"{c} {a:,}" for c, a in DEFAULT_CREDIT_SELF_APPROVAL_LIMITS.items())
_RULES = (
    "Team leads, managers and admins, on an account they can see. The amount is in the "
    "account's currency and minor units (more decimals: 422) and at most the account's "
    "credit (409 `credit_insufficient`), checked again when it is done. A manager or admin "
    "asking for no more than the agency's self-approval limit for the currency "
    f"(`CARTERA_CREDIT_SELF_APPROVAL_LIMITS`; by default {_LIMITS}) has it done at once "
    "(`done`); a larger amount, or any team lead request, is `pending_approval` until another "
    "manager or admin approves it. Nothing is written to the ledger until it is done."
)

_REFUND = (
    "Money the debtor paid beyond the debt goes back to them (`payout_reference`: the SPEI "
    "tracking key, a cheque number). Done, it writes a `credit_refund` entry on the "
    "account's credit. " + _RULES
)
_TRANSFER = (
    "The target must be another active account of the same debtor and partner, in the same "
    "currency (422 `credit_transfer_target_refused`; one the caller cannot see: 404). Done, "
    "it writes a `credit_transfer_out` entry on this account's credit and the target "
    "receives a payment (channel `credit_transfer`, `payment_id`) applied as any payment: "
    "installments, promises, the balance, then credit. That payment cannot be reversed. " + _RULES
)


def _read(movement: CreditMovement) -> CreditMovementRead:
    return CreditMovementRead.model_validate(movement, from_attributes=True)


def _created(response: Response, movement: CreditMovement) -> CreditMovementRead:
    response.headers["Location"] = f"{API_PREFIX}/credit-movements/{movement.id}"
    return _read(movement)


@router.post(
    "/accounts/{account_id}/credit-refunds",
    summary="Refund an account's credit to the debtor",
    description=_REFUND,
    status_code=status.HTTP_201_CREATED,
    response_model=CreditMovementRead,
    responses=problem_responses(401, 403, 404, 409, 422)
    | response_headers(201, headers=(LOCATION,)),
)
async def create_credit_refund(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    response: Response,
    account_id: uuid.UUID,
    body: CreditRefundCreate,
) -> CreditMovementRead:
    movement = await service.request_refund(
        session, principal, account_id, body.amount, body.reason, body.payout_reference,
        limits=settings.credit_self_approval_limits,
    )  # fmt: skip
    return _created(response, movement)


@router.post(
    "/accounts/{account_id}/credit-transfers",
    summary="Move an account's credit to another account of the same debtor",
    description=_TRANSFER,
    status_code=status.HTTP_201_CREATED,
    response_model=CreditMovementRead,
    responses=problem_responses(401, 403, 404, 409, 422)
    | response_headers(201, headers=(LOCATION,)),
)
async def create_credit_transfer(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    response: Response,
    account_id: uuid.UUID,
    body: CreditTransferCreate,
) -> CreditMovementRead:
    movement = await service.request_transfer(
        session, principal, account_id, body.amount, body.target_account_id, body.reason,
        limits=settings.credit_self_approval_limits,
    )  # fmt: skip
    return _created(response, movement)


@router.get(
    "/accounts/{account_id}/credit-movements",
    summary="List an account's credit refunds and transfers",
    response_model=Page[CreditMovementRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_credit_movements(
    session: SessionDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CreditMovementRead]:
    """The movements whose credit leaves this account, newest first, whatever their status."""
    rows, next_cursor = await service.list_movements(
        session, principal, account_id, limit=limit, cursor=cursor
    )
    return Page(items=[_read(m) for m in rows], next_cursor=next_cursor)


@router.get(
    "/credit-movements/{movement_id}",
    summary="Read a credit refund or transfer",
    response_model=CreditMovementRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_credit_movement(
    session: SessionDep, principal: PrincipalDep, movement_id: uuid.UUID
) -> CreditMovementRead:
    """A movement whose account the caller may not see is a 404."""
    return _read(await service.get_movement(session, principal, movement_id))


@router.post(
    "/credit-movements/{movement_id}/approve",
    summary="Approve a credit refund or transfer pending approval, and do it",
    response_model=CreditMovementRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def approve_credit_movement(
    session: SessionDep,
    principal: PrincipalDep,
    movement_id: uuid.UUID,
    body: CreditMovementApproval,
) -> CreditMovementRead:
    """By a manager or admin who did not ask for it (maker-checker: the requester gets a
    403). Only from `pending_approval` (409 otherwise, also for the loser of two approvals at
    once). The credit and the target are checked again: credit spent since is a 409
    `credit_insufficient`, and the movement stays pending."""
    return _read(await service.approve_movement(session, principal, movement_id, body.note))


@router.post(
    "/credit-movements/{movement_id}/reject",
    summary="Reject a credit refund or transfer pending approval",
    response_model=CreditMovementRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def reject_credit_movement(
    session: SessionDep,
    principal: PrincipalDep,
    movement_id: uuid.UUID,
    body: CreditMovementRejection,
) -> CreditMovementRead:
    """The same rules as approval; the note says why. Nothing moves."""
    return _read(await service.reject_movement(session, principal, movement_id, body.note))
