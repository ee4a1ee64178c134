"""What every cross-account list shares at the HTTP edge: the account filters, and the CSV
answer a spreadsheet export gets with ``Accept: text/csv``.

JSON answers one keyset page. CSV answers every row the filters match from ``cursor`` on:
the first batch is read in the request's transaction (so a refusal is still a problem
document), the rest in batches of :data:`EXPORT_BATCH` while the file streams, each batch
a keyset page read in a short transaction of its own (no transaction is held open while a
slow client reads, and memory stays one batch). An export reads from the read replica when
one is usable (app.deps.ExportSessionDep), its later batches too while it stays usable.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Header, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from app.db import Database, read_from
from app.domain.reports import CSV_MEDIA_TYPE, wants_csv
from app.pagination import Page
from app.problems import problem_responses
from app.services.accounts import AccountLabel, AccountScope, LabelledPage
from app.services.tabular_uploads import table_csv

T = TypeVar("T")
M = TypeVar("M")

EXPORT_BATCH = 1000

PartnerFilter = Annotated[uuid.UUID | None, Query(description="Only this partner's accounts.")]
CollectorFilter = Annotated[
    uuid.UUID | None, Query(description="Only accounts assigned to this collector now.")
]
TeamFilter = Annotated[
    uuid.UUID | None,
    Query(description="Only accounts assigned to this team, or to one of its members, now."),
]
AcceptHeader = Annotated[
    str | None,
    Header(
        description="`text/csv` for CSV (the same rows, one line each); JSON otherwise.",
    ),
]

# The account columns every CSV export starts its lines with.
ACCOUNT_COLUMNS = ("external_ref", "debtor_name", "collector_name")


def scope_of(
    partner_id: uuid.UUID | None, collector_id: uuid.UUID | None, team_id: uuid.UUID | None
) -> AccountScope:
    return AccountScope(partner_id=partner_id, collector_id=collector_id, team_id=team_id)


def account_cells(label: AccountLabel) -> list[object]:
    return [label.external_ref, label.debtor_name, label.collector_name or ""]


def list_responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "A page as JSON; with `Accept: text/csv`, every matching row from "
            "`cursor` on as CSV (`limit` does not apply).",
            "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 422),
    }


@dataclass(frozen=True, slots=True)
class CsvExport(Generic[T]):
    """How a list's rows become CSV lines: the file name, the columns and each row's cells."""

    name: str
    columns: Sequence[str]
    cells: Callable[[T, AccountLabel], Sequence[object]]
    account_of: Callable[[T], uuid.UUID]


# (session, cursor, page size) → a page: the list's service call with its filters bound.
PageReader = Callable[[AsyncSession, str | None, int], Awaitable[LabelledPage[T]]]


async def list_answer(
    request: Request,
    session: AsyncSession,
    read: PageReader[T],
    *,
    accept: str | None,
    limit: int,
    cursor: str | None,
    item: Callable[[T, AccountLabel], M],
    export: CsvExport[T],
) -> Page[M] | StreamingResponse:
    """A page of ``item``s as JSON, or with ``Accept: text/csv`` every match as CSV."""
    if not wants_csv(accept):
        page = await read(session, cursor, limit)
        return Page(
            items=[item(r, page.label_of(export.account_of(r))) for r in page.rows],
            next_cursor=page.next_cursor,
        )
    first = await read(session, cursor, EXPORT_BATCH)
    return _csv_export(
        request,
        export,
        first,
        lambda s, after: read(s, after, EXPORT_BATCH),
        on_replica=read_from(session) == "replica",
    )


def _csv_export(
    request: Request,
    export: CsvExport[T],
    first: LabelledPage[T],
    next_page: Callable[[AsyncSession, str], Awaitable[LabelledPage[T]]],
    *,
    on_replica: bool,
) -> StreamingResponse:
    database: Database = request.app.state.database

    def lines(page: LabelledPage[T], with_header: bool) -> list[str]:
        rows = [export.cells(r, page.label_of(export.account_of(r))) for r in page.rows]
        out = list(table_csv(export.columns, rows))
        return out if with_header else out[1:]

    async def stream() -> AsyncIterator[str]:
        page = first
        for line in lines(page, with_header=True):
            yield line
        while page.next_cursor is not None:
            async with database.read_transaction(on_replica=on_replica) as session:
                page = await next_page(session, page.next_cursor)
            for line in lines(page, with_header=False):
                yield line

    return StreamingResponse(
        stream(),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.name}.csv"'},
    )
