from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.contract import IDEMPOTENT_REPLAYED, LOCATION, header_objects, response_headers
from app.deps import (
    API_PREFIX,
    ExportSessionDep,
    IdempotencyKey,
    PrincipalDep,
    SessionDep,
    idempotency_key_parameter,
)
from app.domain.money import round_money
from app.domain.payments import PaymentChannel
from app.models.payment import Payment
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.routers.listing import (
    ACCOUNT_COLUMNS,
    AcceptHeader,
    CollectorFilter,
    CsvExport,
    PartnerFilter,
    TeamFilter,
    account_cells,
    list_answer,
    list_responses,
    scope_of,
)
from app.schemas.accounts import AccountLabelRead
from app.schemas.common import CalendarDate
from app.schemas.payments import (
    AllocationRead,
    BalanceAllocationRead,
    InstallmentAllocationRead,
    PaymentCreate,
    PaymentListItem,
    PaymentRead,
    PaymentReversal,
    PromiseAllocationRead,
)
from app.services import payments
from app.services.accounts import AccountLabel, LabelledPage

router = APIRouter(prefix="/payments", tags=["payments"])
# The account-scoped list lives under /accounts: a router of its own (no prefix).
account_router = APIRouter(tags=["payments"])

_IDEMPOTENCY_KEY = idempotency_key_parameter(
    "The caller's own, per partner: another caller's key is a new key. A replay with the same "
    "key and body returns the first payment and writes nothing; the same key with another "
    "body is a 422; without it, 400."
)


def _allocation_read(data: dict[str, Any]) -> AllocationRead:
    balance = data["balance"]
    return AllocationRead(
        installments=[InstallmentAllocationRead.model_validate(p) for p in data["installments"]],
        promises=[PromiseAllocationRead.model_validate(p) for p in data["promises"]],
        balance=BalanceAllocationRead.model_validate(balance),
        credit=data["credit"],
        plan_interest=data.get("plan_interest", "0"),
        plan_id=data["plan_id"],
        plan_completed=data["plan_completed"],
        account_closed=data["account_closed"],
    )


def _read(payment: Payment) -> PaymentRead:
    return PaymentRead(
        id=payment.id,
        account_id=payment.account_id,
        partner_id=payment.partner_id,
        amount=payment.amount,
        currency=payment.currency,
        paid_on=payment.paid_on,
        channel=payment.channel,
        payer_reference=payment.payer_reference,
        status=payment.status,
        allocation=_allocation_read(payment.allocation),
        credit_amount=payment.credit_amount,
        recorded_by=payment.recorded_by,
        created_at=payment.created_at,
        reversed_at=payment.reversed_at,
        reversed_by=payment.reversed_by,
        reversal_reason=payment.reversal_reason,
    )


@router.post(
    "",
    summary="Record a payment and allocate it",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentRead,
    openapi_extra={"parameters": [_IDEMPOTENCY_KEY]},
    responses={
        200: {
            "description": "A replay of the Idempotency-Key with the same body: the first "
            "payment (header `Idempotent-Replayed: true`), nothing written.",
            "model": PaymentRead,
            "headers": header_objects(LOCATION, IDEMPOTENT_REPLAYED),
        },
        **response_headers(201, headers=(LOCATION,)),
        **problem_responses(400, 401, 403, 404, 409, 422),
    },
)
async def record_payment(
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    body: PaymentCreate,
    idempotency_key: IdempotencyKey = None,
) -> PaymentRead:
    """The account by `account_id`, or by the partner's `external_ref` (staff add
    `partner_id`). The money first meets the active plan's installments, oldest first
    (partially paid ones tracked), then pending promises by due date (kept once paid within
    their tolerance); it pays down the past-due amount and then the balance through fees,
    interest and principal; what exceeds the balance is a credit on the payment. A plan
    whose installments are all paid completes; an account whose total reaches 0 closes;
    clearing the past-due amount makes the account current at once. Partner systems pay on
    their own accounts, collectors on theirs, leads on their teams'; auditors may not (403).
    The currency must be the account's (422); a payer reference used before by the partner
    is a 409."""
    payment, replayed = await payments.record_payment(session, principal, idempotency_key, body)
    response.headers["Location"] = f"{API_PREFIX}/payments/{payment.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
        response.status_code = status.HTTP_200_OK
    return _read(payment)


PAYMENT_CSV_COLUMNS = (
    "payment_id",
    *ACCOUNT_COLUMNS,
    "paid_on",
    "channel",
    "status",
    "currency",
    "amount",
    "credit_amount",
    "payer_reference",
    "recorded_by",
    "created_at",
    "reversed_at",
)


def _payment_item(payment: Payment, label: AccountLabel) -> PaymentListItem:
    return PaymentListItem(**dict(_read(payment)), account=AccountLabelRead.model_validate(label))


def _payment_cells(payment: Payment, label: AccountLabel) -> list[object]:
    return [
        payment.id,
        *account_cells(label),
        payment.paid_on,
        payment.channel,
        payment.status,
        payment.currency,
        round_money(payment.amount, payment.currency),
        round_money(payment.credit_amount, payment.currency),
        payment.payer_reference or "",
        payment.recorded_by,
        payment.created_at.isoformat(),
        payment.reversed_at.isoformat() if payment.reversed_at else "",
    ]


PAYMENT_CSV = CsvExport("payments", PAYMENT_CSV_COLUMNS, _payment_cells, lambda p: p.account_id)


@router.get(
    "",
    summary="List payments across accounts",
    response_model=Page[PaymentListItem],
    responses=list_responses(),
)
async def search_payments(
    session: ExportSessionDep,
    principal: PrincipalDep,
    request: Request,
    from_: Annotated[
        CalendarDate | None, Query(alias="from", description="Paid on or after this day.")
    ] = None,
    to: Annotated[CalendarDate | None, Query(description="Paid on or before this day.")] = None,
    channel: Annotated[PaymentChannel | None, Query()] = None,
    status_filter: Annotated[Literal["applied", "reversed"] | None, Query(alias="status")] = None,
    partner_id: PartnerFilter = None,
    collector_id: CollectorFilter = None,
    team_id: TeamFilter = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    accept: AcceptHeader = None,
) -> Page[PaymentListItem] | StreamingResponse:
    """Newest recorded first, on the accounts the caller may see (a partner: its
    portfolio), each with its account's reference, debtor and collector. `from` and `to`
    bound the day the debtor paid. `Accept: text/csv` exports every match."""
    scope = scope_of(partner_id, collector_id, team_id)

    async def read(s: AsyncSession, after: str | None, size: int) -> LabelledPage[Payment]:
        return await payments.search_payments(
            s,
            principal,
            scope,
            paid_from=from_,
            paid_to=to,
            channel=channel,
            status=status_filter,
            limit=size,
            cursor=after,
        )

    return await list_answer(
        request,
        session,
        read,
        accept=accept,
        limit=limit,
        cursor=cursor,
        item=_payment_item,
        export=PAYMENT_CSV,
    )


@router.get(
    "/{payment_id}",
    summary="Read a payment and what it did",
    response_model=PaymentRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_payment(
    session: SessionDep, principal: PrincipalDep, payment_id: uuid.UUID
) -> PaymentRead:
    """A payment on an account the caller may not see is a 404."""
    return _read(await payments.get_payment(session, principal, payment_id))


@router.post(
    "/{payment_id}/reversal",
    summary="Reverse a payment: undo exactly what it did",
    response_model=PaymentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def reverse_payment(
    session: SessionDep, principal: PrincipalDep, payment_id: uuid.UUID, body: PaymentReversal
) -> PaymentRead:
    """Managers and admins. Installments, promises, the plan's status, the balances, the
    account's status, its last payment and its DPD and stage go back to what they were
    before the payment (later payments keep their effect). A second reversal is a 409, and
    so is the reversal of a payment that received a credit transfer (channel
    `credit_transfer`, code `payment_not_reversible`): undoing a transfer is not offered."""
    return _read(await payments.reverse_payment(session, principal, payment_id, body.reason))


@account_router.get(
    "/accounts/{account_id}/payments",
    summary="List an account's payments",
    response_model=Page[PaymentRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_account_payments(
    session: SessionDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PaymentRead]:
    """Newest first, reversed ones included."""
    rows, next_cursor = await payments.list_payments(
        session, principal, account_id, limit=limit, cursor=cursor
    )
    return Page(items=[_read(p) for p in rows], next_cursor=next_cursor)
