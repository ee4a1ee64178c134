from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from app.deps import PrincipalDep, ReadSessionDep, SnapshotReadSessionDep
from app.domain.reports import CSV_MEDIA_TYPE, MAX_PERIOD_DAYS, wants_csv
from app.problems import problem_responses
from app.routers.listing import AcceptHeader
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
from app.services import reports as service
from app.services.assignment_files import table_csv

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
