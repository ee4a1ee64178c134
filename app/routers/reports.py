from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from app.deps import PrincipalDep, ReadSessionDep, SnapshotReadSessionDep
from app.domain.commissions import CENT, CommissionLine, MonthCommission, RecoveryType
from app.domain.reports import CSV_MEDIA_TYPE, MAX_PERIOD_DAYS, wants_csv
from app.problems import problem_responses
from app.routers.listing import AcceptHeader
from app.routers.targets import MonthQuery, ReadsFigures
from app.schemas.common import CalendarDate
from app.schemas.reports import (
    AgentRow,
    AgentsReport,
    AgingReport,
    AgingRow,
    RecoveryReport,
    RecoveryRow,
    RollRateRow,
    RollRatesReport,
)
from app.schemas.targets import (
    AcceleratorShareRead,
    CommissionLineRead,
    CommissionReportRead,
    CommissionRowRead,
    RecoveryTypeTotalRead,
    VolumeBandRead,
)
from app.services import commissions as commission_service
from app.services import reports as service
from app.services.tabular_uploads import table_csv

router = APIRouter(prefix="/reports", tags=["reports"])

PartnerQuery = Annotated[
    uuid.UUID | None, Query(description="Only this partner's portfolio.")
]  # fmt: skip
From = Annotated[
    CalendarDate,
    Query(alias="from", description="First business date of the period (ISO 8601, included)."),
]
To = Annotated[
    CalendarDate,
    Query(
        description="Last business date of the period (included); at most "
        f"{MAX_PERIOD_DAYS} days after `from`, counting both."
    ),
]


def _responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The report: JSON by default, CSV with `Accept: text/csv`.",
            "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 422),
    }


def _csv(name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> StreamingResponse:
    return StreamingResponse(
        table_csv(header, rows),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _cells(row: BaseModel, columns: Sequence[str]) -> list[object]:
    return [getattr(row, column) for column in columns]


def _table(
    name: str,
    rows: Sequence[Any],
    columns: Sequence[str],
    cells: Callable[[Any], Sequence[object]] | None = None,
) -> StreamingResponse:
    return _csv(name, columns, (cells(r) if cells else _cells(r, columns) for r in rows))


@router.get(
    "/aging",
    summary="Aging: accounts and balances by partner and stage",
    response_model=AgingReport,
    responses=_responses(),
)
async def aging_report(
    session: ReadSessionDep,
    principal: PrincipalDep,
    partner_id: PartnerQuery = None,
    accept: AcceptHeader = None,
) -> AgingReport | StreamingResponse:
    """The active portfolio now: accounts, balance and past-due balance by partner, stage
    and Buró MOP code (a stage spanning several MOP codes has a row per code). Partners see
    their own portfolio, collectors the accounts assigned to them, team leads their teams'."""
    rows = await service.aging(session, principal, partner_id=partner_id)
    if wants_csv(accept):
        return _table("aging", rows, AgingRow.CSV_COLUMNS)
    return AgingReport(items=rows)


@router.get(
    "/roll-rates",
    summary="Roll rates: the stage transition matrix between two dates",
    response_model=RollRatesReport,
    responses=_responses(),
)
async def roll_rates_report(
    session: SnapshotReadSessionDep,
    principal: PrincipalDep,
    from_: From,
    to: To,
    partner_id: PartnerQuery = None,
    accept: AcceptHeader = None,
) -> RollRatesReport | StreamingResponse:
    """For the accounts assigned and active on `from`: their stage on `from` against their
    stage on `to`, from the stage history. Each row's `counts` add up to its `accounts`;
    `rates` are the shares, `roll_forward_rate` the share that rolled to a worse stage."""
    rows = await service.roll_rates(session, principal, start=from_, end=to, partner_id=partner_id)
    if wants_csv(accept):
        return _table("roll-rates", rows, RollRateRow.CSV_COLUMNS, RollRateRow.csv_cells)
    return RollRatesReport(from_=from_, to=to, items=rows)


@router.get(
    "/recovery",
    summary="Recovery: amounts recovered against the assigned balance, and cures",
    response_model=RecoveryReport,
    responses=_responses(),
)
async def recovery_report(
    session: SnapshotReadSessionDep,
    principal: PrincipalDep,
    from_: From,
    to: To,
    partner_id: PartnerQuery = None,
    accept: AcceptHeader = None,
) -> RecoveryReport | StreamingResponse:
    """By partner and stage: payments dated in the period (gross, reversed since, and
    recovered = the difference) in the stage the account was in the day before each
    payment; the balance assigned (on `from`, or on arrival), the recovery rate
    (recovered / assigned balance), and the cure rate (accounts past due on `from` that are
    current on `to`)."""
    rows = await service.recovery(session, principal, start=from_, end=to, partner_id=partner_id)
    if wants_csv(accept):
        return _table("recovery", rows, RecoveryRow.CSV_COLUMNS)
    return RecoveryReport(from_=from_, to=to, items=rows)


@router.get(
    "/agents",
    summary="Agents: each collector's work and results per day",
    response_model=AgentsReport,
    responses=_responses(),
)
async def agents_report(
    session: SnapshotReadSessionDep,
    principal: PrincipalDep,
    from_: From,
    to: To,
    partner_id: PartnerQuery = None,
    accept: AcceptHeader = None,
) -> AgentsReport | StreamingResponse:
    """A row per collector, day and partner: attempts, right-party contacts and their rate,
    promises (per right-party contact), promises kept (of those resolved), amount collected
    on the accounts assigned to them, plans agreed. Collectors get their own rows, team
    leads their teams', partner systems the work on their own portfolio."""
    rows = await service.agents(session, principal, start=from_, end=to, partner_id=partner_id)
    if wants_csv(accept):
        return _table("agents", rows, AgentRow.CSV_COLUMNS)
    return AgentsReport(from_=from_, to=to, items=rows)


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
    "/commissions",
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
