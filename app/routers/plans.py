from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.contract import ETAG, LOCATION, response_headers
from app.deps import (
    API_PREFIX,
    ExportSessionDep,
    LanguageDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
)
from app.domain.money import round_money
from app.i18n import Language, stored_text
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
from app.schemas.plans import (
    BreachRead,
    BreakingRuleRead,
    InstallmentRead,
    PlanCreate,
    PlanDecision,
    PlanInstallmentRead,
    PlanListItem,
    PlanQuoteRead,
    PlanQuoteRequest,
    PlanRead,
    PlanRejection,
    PlanStatusName,
    PlanTypeName,
    QuoteTotalsRead,
)
from app.services import agreements, plans
from app.services.accounts import AccountLabel, LabelledPage
from app.services.plans import PlanView, QuoteView
from app.versioning import IfMatch, etag, parse_if_match

router = APIRouter(tags=["plans"])


def _kind(number: int) -> Literal["down_payment", "installment"]:
    return "down_payment" if number == 0 else "installment"


def quote_read(view: QuoteView, language: Language) -> PlanQuoteRead:
    q = view.quote
    return PlanQuoteRead(
        account_id=view.account_id,
        plan_type=q.plan_type.value,
        currency=q.currency,
        quoted_on=view.quoted_on,
        schedule=[
            InstallmentRead(
                number=i.number,
                kind=_kind(i.number),
                due_date=i.due_date,
                amount=i.amount,
                principal=i.principal,
                interest=i.interest,
            )
            for i in q.obligations
        ],
        totals=QuoteTotalsRead(
            down_payment=q.down_payment,
            down_payment_due_date=q.down_payment_due_date,
            agreed_total=q.agreed_total,
            financed=q.financed,
            interest_total=q.interest_total,
            forgiven=q.forgiven,
        ),
        strategy_version=view.strategy_version,
        breaches=[BreachRead(code=b.code, message=b.text.render(language)) for b in q.breaches],
        approver_role=q.approver_role.value,
        breaks_after=BreakingRuleRead(
            missed_installments=q.breaking.missed_installments, days_late=q.breaking.days_late
        ),
    )


@router.post(
    "/accounts/{account_id}/plan-quotes",
    summary="Quote a payment plan: the schedule, the limits it breaks and who approves it",
    response_model=PlanQuoteRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def quote_plan(
    session: SessionDep,
    language: LanguageDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    body: PlanQuoteRequest,
) -> PlanQuoteRead:
    """Writes nothing. Regularization spreads the past-due amount, restructuring re-amortises
    the total at `annual_rate_pct` (French amortisation), settlement takes `discount_pct` off
    the total. Amounts are in the account's currency, rounded half-up to its minor unit; the
    installments and the down payment sum exactly to the agreed total (the remainder in the
    last installment). Due dates on weekends or the partner country's holidays move to the
    next business day. Collectors quote on their own accounts; partners and auditors may
    not quote (403)."""
    return quote_read(await plans.quote_plan(session, principal, account_id, body), language)


def plan_read(view: PlanView, language: Language) -> PlanRead:
    plan = view.plan

    def m(amount: Decimal) -> Decimal:
        # Stored at two decimals; shown with the currency's own, as the quote shows them.
        return round_money(amount, plan.currency)

    return PlanRead(
        id=plan.id,
        account_id=plan.account_id,
        plan_type=plan.plan_type,
        status=plan.status,
        terms=PlanQuoteRequest.model_validate(plan.terms),
        currency=plan.currency,
        quoted_on=plan.quoted_on,
        schedule=[
            PlanInstallmentRead(
                number=i.number,
                kind=_kind(i.number),
                due_date=i.due_date,
                amount=m(i.amount),
                principal=None if i.principal is None else m(i.principal),
                interest=None if i.interest is None else m(i.interest),
                paid_amount=m(i.paid_amount),
                status=i.status,
            )
            for i in view.installments
        ],
        totals=QuoteTotalsRead(
            down_payment=m(plan.down_payment),
            down_payment_due_date=next(
                (i.due_date for i in view.installments if i.number == 0), None
            ),
            agreed_total=m(plan.agreed_total),
            financed=m(plan.financed),
            interest_total=m(plan.interest_total),
            forgiven=m(plan.forgiven),
        ),
        strategy_version=plan.strategy_version,
        breaches=[
            BreachRead(
                code=b["code"], message=stored_text(b.get("text"), b["message"], language) or ""
            )
            for b in plan.breaches
        ],
        approver_role=plan.approver_role,
        breaks_after=BreakingRuleRead(
            missed_installments=plan.missed_installments_to_break,
            days_late=plan.days_late_to_break,
        ),
        proposed_by=plan.proposed_by,
        decided_by=plan.decided_by,
        decided_at=plan.decided_at,
        decision_note=plan.decision_note,
        cancelled_by=plan.cancelled_by,
        cancelled_at=plan.cancelled_at,
        agreement_sha256=plan.agreement_sha256,
        version=plan.version,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


def _with_etag(response: Response, view: PlanView, language: Language) -> PlanRead:
    response.headers["ETag"] = etag(view.plan.version)
    return plan_read(view, language)


@router.post(
    "/accounts/{account_id}/plans",
    summary="Propose a payment plan from quote terms",
    status_code=status.HTTP_201_CREATED,
    response_model=PlanRead,
    responses=problem_responses(401, 403, 404, 409, 422)
    | response_headers(201, headers=(ETAG, LOCATION)),
)
async def create_plan(
    session: SessionDep,
    language: LanguageDep,
    principal: PrincipalDep,
    response: Response,
    account_id: uuid.UUID,
    body: PlanCreate,
) -> PlanRead:
    """Quotes the terms under the plan-quote rules and stores the plan with its schedule. The
    plan is `active` at once when the proposer's role (collector < team_lead < manager <
    admin) is at or above the quote's `approver_role`, otherwise `pending_approval`. One open
    plan (proposed, pending approval or active) per account: a second is a 409. Collectors
    propose on their own accounts, leads on their teams'; partners and auditors may not."""
    view = await plans.propose_plan(session, principal, account_id, body)
    response.headers["Location"] = f"{API_PREFIX}/plans/{view.plan.id}"
    return _with_etag(response, view, language)


@router.get(
    "/accounts/{account_id}/plans",
    summary="List an account's payment plans",
    response_model=Page[PlanRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_account_plans(
    session: SessionDep,
    language: LanguageDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PlanRead]:
    """Newest first, with their schedules."""
    views, next_cursor = await plans.list_plans(
        session, principal, account_id, limit=limit, cursor=cursor
    )
    return Page(items=[plan_read(v, language) for v in views], next_cursor=next_cursor)


PLAN_CSV_COLUMNS = (
    "plan_id",
    *ACCOUNT_COLUMNS,
    "plan_type",
    "status",
    "currency",
    "agreed_total",
    "down_payment",
    "forgiven",
    "installments",
    "approver_role",
    "quoted_on",
    "created_at",
)


def plan_item(language: Language) -> Callable[[PlanView, AccountLabel], PlanListItem]:
    """A plan list's item maker in the reader's language (also used by my day)."""

    def item(view: PlanView, label: AccountLabel) -> PlanListItem:
        return PlanListItem(
            **dict(plan_read(view, language)), account=AccountLabelRead.model_validate(label)
        )

    return item


def _plan_cells(view: PlanView, label: AccountLabel) -> list[object]:
    plan = view.plan
    return [
        plan.id,
        *account_cells(label),
        plan.plan_type,
        plan.status,
        plan.currency,
        round_money(plan.agreed_total, plan.currency),
        round_money(plan.down_payment, plan.currency),
        round_money(plan.forgiven, plan.currency),
        sum(1 for i in view.installments if i.number > 0),
        plan.approver_role,
        plan.quoted_on,
        plan.created_at.isoformat(),
    ]


PLAN_CSV = CsvExport("plans", PLAN_CSV_COLUMNS, _plan_cells, lambda v: v.plan.account_id)


@router.get(
    "/plans",
    summary="List payment plans across accounts (the approval inbox)",
    response_model=Page[PlanListItem],
    responses=list_responses(),
)
async def search_plans(
    session: ExportSessionDep,
    language: LanguageDep,
    principal: PrincipalDep,
    request: Request,
    status_filter: Annotated[PlanStatusName | None, Query(alias="status")] = None,
    plan_type: Annotated[PlanTypeName | None, Query()] = None,
    partner_id: PartnerFilter = None,
    collector_id: CollectorFilter = None,
    team_id: TeamFilter = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    accept: AcceptHeader = None,
) -> Page[PlanListItem] | StreamingResponse:
    """Newest first, with their schedules and each account's reference, debtor and
    collector, on the accounts the caller may see: a team lead's approval inbox is
    `status=pending_approval` (their teams' accounts), a collector sees their own, a
    partner its portfolio. `Accept: text/csv` exports every match, one line per plan."""
    scope = scope_of(partner_id, collector_id, team_id)

    async def read(s: AsyncSession, after: str | None, size: int) -> LabelledPage[PlanView]:
        return await plans.search_plans(
            s, principal, scope, status=status_filter, plan_type=plan_type, limit=size, cursor=after
        )

    return await list_answer(
        request,
        session,
        read,
        accept=accept,
        limit=limit,
        cursor=cursor,
        item=plan_item(language),
        export=PLAN_CSV,
    )


@router.get(
    "/plans/{plan_id}",
    summary="Read a payment plan",
    response_model=PlanRead,
    responses=problem_responses(401, 403, 404, 422) | response_headers(200, headers=(ETAG,)),
)
async def get_plan(
    session: SessionDep,
    language: LanguageDep,
    principal: PrincipalDep,
    response: Response,
    plan_id: uuid.UUID,
) -> PlanRead:
    """A plan on an account the caller may not see is a 404."""
    return _with_etag(response, await plans.get_plan(session, principal, plan_id), language)


@router.post(
    "/plans/{plan_id}/approve",
    summary="Approve a plan pending approval",
    response_model=PlanRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422)
    | response_headers(200, headers=(ETAG,)),
)
async def approve_plan(
    session: SessionDep,
    language: LanguageDep,
    principal: PrincipalDep,
    response: Response,
    plan_id: uuid.UUID,
    body: PlanDecision,
    if_match: IfMatch = None,
) -> PlanRead:
    """By a role at or above the plan's `approver_role`, never by its proposer
    (maker-checker: 403). Only from `pending_approval` (409 otherwise); of two approvals at
    once, one wins and the other is a 409. With `If-Match`, a plan changed since it was read
    is a 412."""
    view = await plans.approve_plan(
        session, principal, plan_id, body.note, expected_version=parse_if_match(if_match)
    )
    return _with_etag(response, view, language)


@router.post(
    "/plans/{plan_id}/reject",
    summary="Reject a plan pending approval",
    response_model=PlanRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422)
    | response_headers(200, headers=(ETAG,)),
)
async def reject_plan(
    session: SessionDep,
    language: LanguageDep,
    principal: PrincipalDep,
    response: Response,
    plan_id: uuid.UUID,
    body: PlanRejection,
    if_match: IfMatch = None,
) -> PlanRead:
    """The same rules as approval; the note says why."""
    view = await plans.reject_plan(
        session, principal, plan_id, body.note, expected_version=parse_if_match(if_match)
    )
    return _with_etag(response, view, language)


@router.post(
    "/plans/{plan_id}/cancel",
    summary="Cancel a proposed, pending or active plan",
    response_model=PlanRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422)
    | response_headers(200, headers=(ETAG,)),
)
async def cancel_plan(
    session: SessionDep,
    language: LanguageDep,
    principal: PrincipalDep,
    response: Response,
    plan_id: uuid.UUID,
    body: PlanDecision,
    if_match: IfMatch = None,
) -> PlanRead:
    """By a manager or admin, or by a team lead who proposed the plan or leads the team of
    its proposer. A plan already rejected, cancelled, completed or broken is a 409."""
    view = await plans.cancel_plan(
        session, principal, plan_id, body.note, expected_version=parse_if_match(if_match)
    )
    return _with_etag(response, view, language)


@router.get(
    "/plans/{plan_id}/agreement",
    summary="Download the payment agreement (convenio de pago) as PDF",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "X-Agreement-SHA256": {
                    "description": "SHA-256 of the PDF, as stored on the plan.",
                    "schema": {"type": "string"},
                }
            },
        },
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def download_plan_agreement(
    session: SessionDep, principal: PrincipalDep, settings: SettingsDep, plan_id: uuid.UUID
) -> Response:
    """In Spanish, with a folio (`CONV-<creditor>-<year>-<plan>`): the creditor (legal name,
    tax id), the agency (legal name and, in Mexico, its REDECO number), the debtor (name,
    masked national id), the account; the debt covered, the discount, the down payment and
    its date, every installment; how and where to pay (the account's payment reference, the
    creditor's bank, CLABE and cash stores; never to the agency); when the plan breaks and
    what follows; the signing date. Issued on the first download (its facts and SHA-256
    kept on the plan): every later download gives the same bytes. Active, completed or
    broken plans only (409)."""
    agreement = await agreements.plan_agreement(
        session, principal, plan_id, agreements.agency_of(settings)
    )
    return Response(
        content=agreement.pdf,
        media_type="application/pdf",
        headers={
            "X-Agreement-SHA256": agreement.sha256,
            "Content-Disposition": f'attachment; filename="{agreement.folio}.pdf"',
        },
    )
