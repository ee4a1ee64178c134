"""Recovery targets, partners' commission terms and the commission report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.deps import ReadSessionDep, SessionDep, require
from app.domain.commissions import CENT, CommissionLine, MonthCommission, RecoveryType
from app.domain.money import round_money
from app.domain.reports import wants_csv
from app.domain.roles import Role
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.targets import (
    MONTH_PATTERN,
    AcceleratorRead,
    AcceleratorShareRead,
    CommissionLineRead,
    CommissionReportRead,
    CommissionRowRead,
    CommissionTermsHistoryRead,
    CommissionTermsRead,
    CommissionTermsWrite,
    CommissionTierRead,
    RecoveryTypeTotalRead,
    TargetProgressRead,
    TargetScope,
    TargetWrite,
    VolumeBandRead,
    VolumeTierRead,
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


def target_read(progress: service.TargetProgress) -> TargetProgressRead:
    t = progress.target
    return TargetProgressRead(
        id=t.id,
        month=service.month_text(t.month),
        scope=TargetScope(t.scope),
        scope_id=t.scope_id,
        amount=round_money(t.amount, t.currency),
        currency=t.currency,
        version=t.version,
        set_by=t.set_by,
        updated_at=t.updated_at,
        # In the currency's minor unit, as every amount is shown ("0.00", not "0").
        recovered=round_money(progress.recovered, t.currency),
        remaining=round_money(progress.remaining, t.currency),
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
    return target_read(progress)


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
    return Page(items=[target_read(p) for p in page.items], next_cursor=page.next_cursor)


def _terms(view: commission_service.TermsView) -> CommissionTermsRead:
    acc = view.terms.accelerator
    return CommissionTermsRead(
        partner_id=view.partner_id,
        version=view.version,
        effective_from=view.effective_from,
        clawback_days=view.terms.clawback_days,
        tiers=[
            CommissionTierRead(stage=t.stage, recovery_type=t.recovery_type, rate_pct=t.rate_pct)
            for t in view.terms.tiers
        ],
        volume_tiers=[
            VolumeTierRead(from_amount=b.from_amount, rate_pct=b.rate_pct)
            for b in view.terms.volume_tiers
        ],
        accelerator=None
        if acc is None
        else AcceleratorRead(
            above_target_pct=acc.above_target_pct, extra_rate_pct=acc.extra_rate_pct
        ),
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
    """Stores the next version; earlier versions never change. A payment earns on its
    base, the money it applied to the debt (never credit), and has a recovery type:
    `settlement` (it belongs to a settlement plan), else `plan_installment` (it paid
    installments of another plan), else `full_payment` (it paid off the debt), else
    `partial_payment`. The terms pay in one of two ways:

    - `tiers`, a rate table: each rate is a percentage (0–100, two decimals) for a stage and
      a recovery type; leaving either out means "any", and a payment takes the most
      specific rate that matches it (none: 0 %);
    - `volume_tiers`: bands of the collector's month's base on the partner's portfolio,
      ascending from 0, each paying its rate on the part of the month's base inside it
      (marginal, like income tax).

    `accelerator` (optional) pays `extra_rate_pct` more on the collector's month's base
    above `above_target_pct` % of their monthly target (shared among partners by base).
    A payment's table rate is from the latest version whose `effective_from` (default: the
    partner's today) is on or before its date; volume tiers and the accelerator from the
    version in effect on the month's last day. `clawback_days`: a payment reversed, or whose
    plan broke, within that many days after it was paid gives its commission back. A 422
    names the field when the table and volume tiers are both given or both missing, the
    bands do not ascend from 0, or an amount has more decimals than the currency."""
    return _terms(await commission_service.set_terms(session, principal, partner_id, body))


NO_MONEY = 0 * CENT  # 0.00

CSV_HEADER = (
    "period", "collector_id", "collector_name", "partner_id", "currency", "terms_version",
    "payments", "base", *(f"base_{kind.value}" for kind in RecoveryType), "rates_applied",
    "accelerator", "earned", "clawed_back", "net",
)  # fmt: skip


def _rates_applied(month: MonthCommission) -> str:
    """The rates that paid the month: each band as `from-to:rate` (volume tiers), or each
    line's `stage/type:rate` (the table), separated by `; `."""
    if month.bands:
        return "; ".join(
            f"{b.from_amount}-{'' if b.to_amount is None else b.to_amount}:{b.rate_pct}"
            for b in month.bands
        )
    return "; ".join(
        f"{ln.facts.stage or '*'}/{ln.facts.recovery_type.value}:{ln.rate_pct}"
        for ln in month.lines
    )


def _csv_line(period: str, row: commission_service.CommissionRow) -> tuple[object, ...]:
    month = row.month
    by_type = {t.recovery_type: t.base for t in month.by_recovery_type}
    return (
        period, row.collector_id, row.collector_name, row.partner_id, row.currency,
        "" if month.terms_version is None else month.terms_version, month.payments,
        month.base, *(by_type.get(kind, NO_MONEY) for kind in RecoveryType),
        _rates_applied(month),
        NO_MONEY if month.accelerator is None else month.accelerator.amount,
        month.earned, month.clawed_back, month.net,
    )  # fmt: skip


def _line(line: CommissionLine) -> CommissionLineRead:
    f = line.facts
    return CommissionLineRead(
        stage=f.stage,
        recovery_type=f.recovery_type,
        terms_version=f.terms_version,
        payments=f.payments,
        base=f.base,
        clawed_back_payments=f.clawed_back_payments,
        clawed_back_base=f.clawed_back_base,
        rate_pct=line.rate_pct,
        earned=line.earned,
        clawed_back=line.clawed_back,
        net=line.net,
    )


def _row(row: commission_service.CommissionRow) -> CommissionRowRead:
    month = row.month
    acc = month.accelerator
    return CommissionRowRead(
        collector_id=row.collector_id,
        collector_name=row.collector_name,
        partner_id=row.partner_id,
        currency=row.currency,
        terms_version=month.terms_version,
        payments=month.payments,
        base=month.base,
        by_recovery_type=[
            RecoveryTypeTotalRead(recovery_type=t.recovery_type, payments=t.payments, base=t.base)
            for t in month.by_recovery_type
        ],
        volume_bands=[
            VolumeBandRead(
                from_amount=b.from_amount,
                to_amount=b.to_amount,
                rate_pct=b.rate_pct,
                base=b.base,
                commission=b.commission,
            )
            for b in month.bands
        ],
        accelerator=None
        if acc is None
        else AcceleratorShareRead(
            above_target_pct=acc.above_target_pct,
            extra_rate_pct=acc.extra_rate_pct,
            target=acc.target,
            threshold=acc.threshold,
            collector_base=acc.collector_base,
            excess=acc.excess,
            amount=acc.amount,
        ),
        earned=month.earned,
        clawed_back=month.clawed_back,
        net=month.net,
        lines=[_line(line) for line in month.lines],
    )


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
    session: ReadSessionDep,
    principal: ReadsFigures,
    request: Request,
    period: MonthQuery,
    collector_id: Annotated[
        uuid.UUID | None, Query(description="Only this collector's rows.")
    ] = None,
) -> CommissionReportRead | StreamingResponse:
    """One row per collector and partner (its currency): the month's base (money the
    payments applied to the debt; credit never earns), its split by recovery type, the
    volume bands that paid it (when the terms pay by volume), the accelerator, and the
    commission earned, clawed back (payments reversed or whose plan broke within the
    terms' clawback window: the month is recomputed without them) and net. Each line is a
    stage, recovery type and terms version with its base and, under a rate table, its rate
    and commission. Payments that applied nothing to the debt are left out. A payment is
    credited to the collector assigned to its account on the day it was paid. Collectors
    see their own row, team leads their teams' members', partners their own portfolio,
    managers, admins and auditors everything. `Accept: text/csv` gives one CSV line per
    row, with the base by recovery type and the rates applied."""
    report = await commission_service.commission_report(session, principal, period, collector_id)
    if wants_csv(request.headers.get("accept")):
        return StreamingResponse(
            table_csv(CSV_HEADER, [_csv_line(report.period, row) for row in report.rows]),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="commissions-{report.period}.csv"'
            },
        )
    return CommissionReportRead(period=report.period, rows=[_row(row) for row in report.rows])
