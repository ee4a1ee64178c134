"""Recovery targets, partners' commission terms and the commission report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.deps import SessionDep, require
from app.domain.roles import Role
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.targets import (
    MONTH_PATTERN,
    CommissionLineRead,
    CommissionReportRead,
    CommissionRowRead,
    CommissionTermsHistoryRead,
    CommissionTermsRead,
    CommissionTermsWrite,
    CommissionTierRead,
    TargetProgressRead,
    TargetScope,
    TargetWrite,
)
from app.security import Principal
from app.services import commissions as commission_service
from app.services import targets as service
from app.services.assignment_files import table_csv

router = APIRouter(tags=["reports"])

# Everyone reads figures; what each sees is narrowed by the services.
ReadsFigures = Annotated[
    Principal,
    Depends(
        require(
            Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR, Role.PARTNER
        )
    ),
]
SetsTargets = Annotated[Principal, Depends(require(Role.ADMIN, Role.MANAGER))]

MonthQuery = Annotated[str, Query(pattern=MONTH_PATTERN, description="A month, YYYY-MM.")]


def _target(progress: service.TargetProgress) -> TargetProgressRead:
    t = progress.target
    return TargetProgressRead(
        id=t.id,
        month=service.month_text(t.month),
        scope=TargetScope(t.scope),
        scope_id=t.scope_id,
        amount=t.amount,
        currency=t.currency,
        version=t.version,
        set_by=t.set_by,
        updated_at=t.updated_at,
        recovered=progress.recovered,
        remaining=progress.remaining,
        percent=progress.percent,
    )


@router.put(
    "/targets",
    summary="Set a month's recovery target for a collector, a team or a partner",
    response_model=TargetProgressRead,
    responses={201: {"model": TargetProgressRead}, **problem_responses(401, 403, 409, 422)},
)
async def set_target(
    session: SessionDep, principal: SetsTargets, body: TargetWrite, response: Response
) -> TargetProgressRead:
    """Creates (201) or replaces (200) the target of the month for the scope and currency.
    A partner target is in the partner's currency; collector and team targets must name
    theirs. A 422 naming the field when the month is not `YYYY-MM`, the amount is not
    positive, the scope id is not a collector, team or partner, or the currency is missing
    or not the partner's."""
    progress, created = await service.set_target(session, principal, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return _target(progress)


@router.get(
    "/targets",
    summary="List a month's recovery targets with their progress",
    response_model=Page[TargetProgressRead],
    responses=problem_responses(401, 403, 422),
)
async def list_targets(
    session: SessionDep,
    principal: ReadsFigures,
    month: MonthQuery,
    scope: Annotated[TargetScope | None, Query(description="Only targets of this scope.")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[TargetProgressRead]:
    """Managers, admins and auditors see every target; a team lead their teams' and their
    members'; a collector their own; a partner's system its partner's. Progress: applied
    payments paid in the month in the scope and currency (reversed ones do not count),
    credited to the collector assigned on the day paid."""
    page = await service.list_targets(
        session, principal, month, scope=scope, limit=limit, cursor=cursor
    )
    return Page(items=[_target(p) for p in page.items], next_cursor=page.next_cursor)


def _terms(view: commission_service.TermsView) -> CommissionTermsRead:
    return CommissionTermsRead(
        partner_id=view.partner_id,
        version=view.version,
        effective_from=view.effective_from,
        clawback_days=view.terms.clawback_days,
        tiers=[
            CommissionTierRead(stage=t.stage, recovery_type=t.recovery_type, rate_pct=t.rate_pct)
            for t in view.terms.tiers
        ],
        created_by=view.created_by,
        created_at=view.created_at,
    )


@router.get(
    "/partners/{partner_id}/commission-terms",
    summary="Read a partner's commission terms: the version in effect and every version",
    response_model=CommissionTermsHistoryRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_commission_terms(
    session: SessionDep, principal: ReadsFigures, partner_id: uuid.UUID
) -> CommissionTermsHistoryRead:
    """Staff read any partner's terms; a partner's system its own (another is a 404)."""
    history = await commission_service.read_terms(session, principal, partner_id)
    return CommissionTermsHistoryRead(
        current=None if history.current is None else _terms(history.current),
        versions=[_terms(v) for v in history.versions],
    )


@router.put(
    "/partners/{partner_id}/commission-terms",
    summary="Set a partner's commission terms (stores a new version)",
    response_model=CommissionTermsRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def set_commission_terms(
    session: SessionDep,
    principal: SetsTargets,
    partner_id: uuid.UUID,
    body: CommissionTermsWrite,
) -> CommissionTermsRead:
    """Stores the next version; earlier versions never change. Each tier is a percentage
    (0–100, two decimals) for a stage and a recovery type (`full_payment`: a payment made
    outside any plan; `plan`: on a regularization or restructuring plan; `settlement`: on
    a settlement plan); leaving either out means "any", and a payment takes the most
    specific tier that matches it (no tier: 0 %). A payment is paid under the latest
    version whose `effective_from` (default: the partner's today) is on or before its date.
    `clawback_days`: a payment reversed, or whose plan broke, within that many days after
    it was paid gives its commission back."""
    return _terms(await commission_service.set_terms(session, principal, partner_id, body))


CSV_HEADER = (
    "period", "collector_id", "collector_name", "partner_id", "currency", "stage",
    "recovery_type", "terms_version", "rate_pct", "payments", "recovered",
    "clawed_back_payments", "clawed_back_amount", "earned", "clawed_back", "net",
)  # fmt: skip


def _wants_csv(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip() == "text/csv" for part in accept.split(","))


@router.get(
    "/reports/commissions",
    summary="Each collector's commission for a month, with clawbacks (JSON or CSV)",
    response_model=CommissionReportRead,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses(401, 403, 422),
    },
)
async def commission_report(
    session: SessionDep,
    principal: ReadsFigures,
    request: Request,
    period: MonthQuery,
    collector_id: Annotated[
        uuid.UUID | None, Query(description="Only this collector's rows.")
    ] = None,
) -> CommissionReportRead | StreamingResponse:
    """One row per collector and partner (its currency), with a line per stage, recovery
    type and terms version: payments paid in the month, recovered amount, commission
    earned (amount × the tier's rate, half-up to cents), clawed back (payments reversed or
    whose plan broke within the terms' clawback window) and net. A payment is credited to
    the collector assigned to its account on the day it was paid. Collectors see their own
    row, team leads their teams' members', partners their own portfolio, managers, admins
    and auditors everything. `Accept: text/csv` gives one CSV line per line."""
    report = await commission_service.commission_report(session, principal, period, collector_id)
    if _wants_csv(request):
        lines = [
            (
                report.period,
                row.collector_id,
                row.collector_name,
                row.partner_id,
                row.currency,
                line.stage.value if line.stage else "",
                line.recovery_type.value,
                "" if line.terms_version is None else line.terms_version,
                line.rate_pct,
                line.payments,
                line.recovered,
                line.clawed_back_payments,
                line.clawed_back_amount,
                line.earned,
                line.clawed_back,
                line.net,
            )
            for row in report.rows
            for line in row.lines
        ]
        return StreamingResponse(
            table_csv(CSV_HEADER, lines),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="commissions-{report.period}.csv"'
            },
        )
    return CommissionReportRead(
        period=report.period,
        rows=[
            CommissionRowRead(
                collector_id=row.collector_id,
                collector_name=row.collector_name,
                partner_id=row.partner_id,
                currency=row.currency,
                payments=row.payments,
                recovered=row.recovered,
                earned=row.earned,
                clawed_back=row.clawed_back,
                net=row.net,
                lines=[
                    CommissionLineRead(
                        stage=line.stage,
                        recovery_type=line.recovery_type,
                        terms_version=line.terms_version,
                        rate_pct=line.rate_pct,
                        payments=line.payments,
                        recovered=line.recovered,
                        clawed_back_payments=line.clawed_back_payments,
                        clawed_back_amount=line.clawed_back_amount,
                        earned=line.earned,
                        clawed_back=line.clawed_back,
                        net=line.net,
                    )
                    for line in row.lines
                ],
            )
            for row in report.rows
        ],
    )
