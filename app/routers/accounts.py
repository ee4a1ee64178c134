from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response, status

from app.contract import ETAG, response_headers
from app.deps import ClockDep, PrincipalDep, SessionDep, require
from app.domain.accounts import AccountStatus, debtor_name
from app.domain.errors import PreconditionRequired
from app.domain.payments import payment_reference
from app.domain.roles import Role
from app.domain.stages import Stage, mop_code
from app.models.account import Account
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.accounts import (
    AccountAssign,
    AccountDetail,
    AccountEventRead,
    AccountSort,
    AccountSummary,
    DebtorContacts,
    DebtorSummary,
    PauseCreate,
    PauseRead,
)
from app.schemas.common import Money, PlainText
from app.security import Principal
from app.services import accounts as service
from app.services.accounts import DebtorBrief
from app.versioning import IfMatch, etag, if_match_parameter, parse_if_match

router = APIRouter(tags=["accounts"])


AssignsAccounts = Annotated[Principal, Depends(require(Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD))]
# Required (428 without it), so the contract states it by hand: see if_match_parameter.
RequiredIfMatch = Annotated[str | None, Header(alias="If-Match", include_in_schema=False)]
_REQUIRED_IF_MATCH = if_match_parameter(
    'The ETag you read (`"3"`); the change is refused (412) if the account moved on since, '
    "and without it (`*` included) it is a 428."
)


def _debtor(account: Account | Any, debtor: DebtorBrief) -> DebtorSummary:
    # The name as this account's partner sent it: partners never see each other's data.
    return DebtorSummary(
        id=debtor.id,
        full_name=debtor_name(account.debtor_first_names, account.debtor_last_names),
        national_id_type=debtor.national_id_type,
        national_id_masked=debtor.national_id_masked,
    )


def _summary(account: Account, debtor: DebtorBrief, collector_name: str | None) -> AccountSummary:
    return AccountSummary(
        id=account.id,
        partner_id=account.partner_id,
        external_ref=account.external_ref,
        product_type=account.product_type,
        currency=account.currency,
        total=account.total,
        past_due_amount=account.past_due_amount,
        dpd=account.dpd,
        stage=account.stage,
        mop_code=mop_code(account.dpd),
        status=account.status,
        assigned_collector_id=account.assigned_collector_id,
        assigned_collector_name=collector_name,
        assigned_team_id=account.assigned_team_id,
        debtor=_debtor(account, debtor),
        version=account.version,
        updated_at=account.updated_at,
    )


def _detail(view: service.AccountView) -> AccountDetail:
    a = view.account
    assert a.payment_serial is not None
    return AccountDetail(
        id=a.id,
        partner_id=a.partner_id,
        external_ref=a.external_ref,
        payment_reference=payment_reference(a.payment_serial),
        product_type=a.product_type,
        currency=a.currency,
        original_amount=a.original_amount,
        principal=a.principal,
        interest=a.interest,
        fees=a.fees,
        total=a.total,
        past_due_amount=a.past_due_amount,
        credit=a.credit,
        oldest_unpaid_due_date=a.oldest_unpaid_due_date,
        last_payment_date=a.last_payment_date,
        last_payment_amount=a.last_payment_amount,
        dpd=a.dpd,
        stage=a.stage,
        mop_code=mop_code(a.dpd),
        aged_as_of=a.aged_as_of,
        status=a.status,
        assigned_collector_id=a.assigned_collector_id,
        assigned_team_id=a.assigned_team_id,
        last_assignment_id=a.last_assignment_id,
        debtor=DebtorContacts(
            **_debtor(view.account, view.debtor).model_dump(),
            phones=view.phones,
            emails=view.emails,
        ),
        references_count=view.references_count,
        guarantors_count=view.guarantors_count,
        has_pauses=a.has_pauses,
        active_pause=PauseRead.model_validate(view.active_pause) if view.active_pause else None,
        version=a.version,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )


@router.get(
    "/accounts",
    summary="List accounts",
    response_model=Page[AccountSummary],
    responses=problem_responses(401, 403, 422),
)
async def list_accounts(
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    sort: Annotated[
        AccountSort, Query(description="Order; `-` for descending, ties broken by id.")
    ] = AccountSort.ID,
    partner_id: Annotated[uuid.UUID | None, Query()] = None,
    stage: Annotated[
        list[Stage] | None, Query(max_length=6, description="Repeat for several stages.")
    ] = None,
    account_status: Annotated[AccountStatus | None, Query(alias="status")] = None,
    collector_id: Annotated[uuid.UUID | None, Query(description="The assigned collector.")] = None,
    team_id: Annotated[uuid.UUID | None, Query(description="The assigned team.")] = None,
    min_total: Annotated[Money | None, Query()] = None,
    max_total: Annotated[Money | None, Query()] = None,
    min_dpd: Annotated[int | None, Query(ge=-36500, le=36500)] = None,
    max_dpd: Annotated[int | None, Query(ge=-36500, le=36500)] = None,
    external_ref: Annotated[
        PlainText | None, Query(min_length=1, max_length=64, description="Exact match.")
    ] = None,
) -> Page[AccountSummary]:
    """The accounts the caller may see: all for admins, managers and auditors, its own
    portfolio for a partner, the assigned ones for a collector, their teams' for a lead."""
    filters = service.AccountFilters(
        partner_id=partner_id,
        stages=stage or (),
        status=account_status,
        collector_id=collector_id,
        team_id=team_id,
        min_total=min_total,
        max_total=max_total,
        min_dpd=min_dpd,
        max_dpd=max_dpd,
        external_ref=external_ref,
    )
    rows, next_cursor = await service.list_accounts(
        session, principal, limit=limit, cursor=cursor, sort=sort, filters=filters
    )
    return Page(
        items=[_summary(r.account, r.debtor, r.collector_name) for r in rows],
        next_cursor=next_cursor,
    )


@router.get(
    "/accounts/{account_id}",
    summary="Read an account",
    response_model=AccountDetail,
    responses=problem_responses(401, 403, 404, 422) | response_headers(200, headers=(ETAG,)),
)
async def read_account(
    session: SessionDep, principal: PrincipalDep, account_id: uuid.UUID, response: Response
) -> AccountDetail:
    """Balances, delinquency, assignment and the debtor, masked; the ETag is the version."""
    view = await service.read_account(session, principal, account_id)
    response.headers["ETag"] = etag(view.account.version)
    return _detail(view)


@router.patch(
    "/accounts/{account_id}",
    summary="Assign an account to a collector or team",
    response_model=AccountDetail,
    openapi_extra={"parameters": [_REQUIRED_IF_MATCH]},
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428)
    | response_headers(200, headers=(ETAG,)),
)
async def assign_account(
    session: SessionDep,
    principal: AssignsAccounts,
    account_id: uuid.UUID,
    body: AccountAssign,
    response: Response,
    if_match: RequiredIfMatch = None,
) -> AccountDetail:
    """Only active accounts; a team lead assigns within the teams they lead."""
    expected = parse_if_match(if_match)
    if expected is None:
        raise PreconditionRequired({"header": "If-Match"})
    view = await service.assign_account(session, principal, account_id, body, expected)
    response.headers["ETag"] = etag(view.account.version)
    return _detail(view)


@router.get(
    "/accounts/{account_id}/history",
    summary="Read an account's history",
    response_model=Page[AccountEventRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_account_history(
    session: SessionDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[AccountEventRead]:
    """Creation, balance, stage, assignment, status and pause events, newest first."""
    events, next_cursor = await service.list_events(
        session, principal, account_id, limit=limit, cursor=cursor
    )
    return Page(items=[AccountEventRead.model_validate(e) for e in events], next_cursor=next_cursor)


@router.post(
    "/accounts/{account_id}/pauses",
    summary="Pause an account's delinquency",
    status_code=status.HTTP_201_CREATED,
    response_model=PauseRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_account_pause(
    session: SessionDep,
    principal: AssignsAccounts,
    account_id: uuid.UUID,
    body: PauseCreate,
    now: ClockDep,
) -> PauseRead:
    """While a pause (dispute, hardship, legal) lasts, aging adds no days past due. Pauses
    of one account never overlap and last at most 365 days. The account's DPD and stage are
    recomputed at once for the partner's business day (a stage change is in its history)."""
    pause = await service.create_pause(session, principal, account_id, body, now=now)
    return PauseRead.model_validate(pause)


@router.post(
    "/pauses/{pause_id}/end",
    summary="End a pause early",
    response_model=PauseRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422)
    | response_headers(200, headers=(ETAG,)),
)
async def end_account_pause(
    session: SessionDep,
    principal: AssignsAccounts,
    pause_id: uuid.UUID,
    response: Response,
    now: ClockDep,
    if_match: IfMatch = None,
) -> PauseRead:
    """Admins, managers and team leads (on accounts they see; any other pause is a 404), as
    for recording one. Only a pause covering the partner's business day can be ended, once:
    otherwise a 409 `pause_not_active`. Today counts towards days past due again: the
    pause's last day becomes yesterday (one ended on its first day covers no day), and the
    account's DPD and stage are recomputed at once, with a `pause_ended` event (and
    `stage_changed` when the stage moves) in its history. `If-Match` names the account's
    ETag (GET /accounts/{id}), and the ETag answered is the account's new version."""
    ended = await service.end_pause(session, principal, pause_id, parse_if_match(if_match), now=now)
    response.headers["ETag"] = etag(ended.account.version)
    return PauseRead.model_validate(ended.pause)


@router.get(
    "/accounts/{account_id}/pauses",
    summary="List an account's pauses",
    response_model=Page[PauseRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_account_pauses(
    session: SessionDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PauseRead]:
    """By start date, earliest first."""
    pauses, next_cursor = await service.list_pauses(
        session, principal, account_id, limit=limit, cursor=cursor
    )
    return Page(items=[PauseRead.model_validate(p) for p in pauses], next_cursor=next_cursor)
