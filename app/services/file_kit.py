"""A partner's file kit: templates of each kind of file (an assignment push, a payment file,
a SPEI statement) and dry runs that validate a file as its processing would and store
nothing.

The columns, their order, their meaning and the example rows come from the domain
(:mod:`app.domain.file_kit` and each kind's module), so the template, the reader and the
column table in the API's description cannot disagree.

A dry run reads the upload from a temporary file as the job reads the stored one, and runs
the same checks: an assignment push's rows go through the staging pool
(:mod:`app.services.assignment_staging`) a batch at a time (validated only: nothing is
sealed or encoded for COPY), repeated external refs are found across the push, and accounts
the partner has closed are looked up per batch with one query; a payment file's or
statement's lines go through their kind's line reader. Nothing is written: no upload, no
account, no ledger entry, no audit record (nothing changes), and the Idempotency-Key is
neither needed nor used. It runs within the request, so it is bounded: at most
:data:`DRY_RUN_MAX_ROWS` rows and :data:`DRY_RUN_MAX_BYTES` bytes.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import anyio
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app import vault
from app.domain import assignments as assignment_rows
from app.domain import payment_files as payment_lines
from app.domain import spei_files as spei_lines
from app.domain.assignments import IntakeContext, RowError
from app.domain.errors import InvalidInput, PayloadTooLarge, UnreadableUpload, UnsupportedMediaType
from app.domain.file_kit import DESCRIPTION_HEADER, FileColumn, description_rows, markdown_table
from app.domain.identity import Country
from app.domain.payment_files import FileContext
from app.i18n import N_, Language, Message, translate
from app.models.partner import Partner
from app.security import Principal
from app.services import assignment_staging as staging
from app.services import payment_files
from app.services.assignments import (
    _ACCOUNT_CLOSED,
    BATCH_ROWS,
    _BatchReader,
    _repeated,
    partner_for_push,
)
from app.services.partners import partner_today
from app.services.tabular_uploads import (
    XLSX_MEDIA_TYPE,
    RowShapeError,
    SourceFormat,
    UploadCheck,
    check_json,
    read_rows,
    table_csv,
)
from app.services.workbooks import DEFAULT_LIMITS, WorkbookLimits

# A dry run answers within the request: bigger files are pushed (and processed by the job).
DRY_RUN_MAX_ROWS = 200_000
DRY_RUN_MAX_BYTES = 256 * 1024 * 1024
# The rejections a dry run lists (its counts stay exact beyond them).
DRY_RUN_REJECTIONS_SHOWN = 1_000


class FileKind(StrEnum):
    ASSIGNMENTS = "assignments"
    PAYMENTS = "payments"
    SPEI = "spei"


@dataclass(frozen=True, slots=True)
class FileSpec:
    """A kind of file: its columns in order, its example rows for a partner's country and
    currency, and the name its template downloads as."""

    columns: tuple[FileColumn, ...]
    examples: Callable[[Country, str], list[dict[str, str]]]
    file_name: str


SPECS: dict[FileKind, FileSpec] = {
    FileKind.ASSIGNMENTS: FileSpec(
        assignment_rows.FILE_COLUMNS, assignment_rows.example_rows, "assignment-template"
    ),
    FileKind.PAYMENTS: FileSpec(
        payment_lines.FILE_COLUMNS,
        lambda _country, currency: payment_lines.example_rows(currency),
        "payment-file-template",
    ),
    FileKind.SPEI: FileSpec(
        spei_lines.FILE_COLUMNS,
        lambda _country, currency: spei_lines.example_rows(currency),
        "spei-file-template",
    ),
}
# The API's description shows the examples of a Mexican partner.
DOCUMENTED_COUNTRY = Country.MX
DOCUMENTED_CURRENCY = "MXN"


def _example_cells(rows: Sequence[dict[str, str]]) -> dict[str, str]:
    """Each column's first non-empty example among ``rows``."""
    cells: dict[str, str] = {}
    for row in rows:
        for name, value in row.items():
            if value and name not in cells:
                cells[name] = value
    return cells


def column_table(kind: FileKind) -> str:
    """The Markdown table of ``kind``'s columns, for the API's description."""
    spec = SPECS[kind]
    rows = spec.examples(DOCUMENTED_COUNTRY, DOCUMENTED_CURRENCY)
    return markdown_table(spec.columns, _example_cells(rows))


# ---------------------------------------------------------------------------------------
# Templates


async def partner_for_file(
    session: AsyncSession, principal: Principal, partner_id: uuid.UUID, kind: FileKind
) -> Partner:
    """The partner a file of ``kind`` is sent for, by whoever may send it (a SPEI statement:
    a Mexican partner only, 422 otherwise)."""
    partner = await partner_for_push(session, principal, partner_id)
    if kind is FileKind.SPEI and partner.country != "MX":
        raise InvalidInput("path.partner_id", N_("SPEI statements are for Mexican partners only"))
    return partner


def template_csv(kind: FileKind, country: Country, currency: str) -> str:
    """The header row with every column in order, then the example rows."""
    spec = SPECS[kind]
    names = [c.name for c in spec.columns]
    rows = spec.examples(country, currency)
    return "".join(table_csv(names, ([row.get(n, "") for n in names] for row in rows)))


_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_REQUIRED_FILL = PatternFill("solid", fgColor="C00000")


def template_xlsx(kind: FileKind, country: Country, currency: str, language: Language) -> bytes:
    """A workbook: the first sheet is the file (a styled header, required columns in red,
    the example rows as text), the second describes each column in ``language``."""
    spec = SPECS[kind]
    rows = spec.examples(country, currency)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = translate(N_("Rows"), language)[:31]
    sheet.append([c.name for c in spec.columns])
    for row in rows:
        sheet.append([row.get(c.name) or None for c in spec.columns])
    for index, column in enumerate(spec.columns, start=1):
        header = sheet.cell(row=1, column=index)
        header.font = _HEADER_FONT
        header.fill = _REQUIRED_FILL if column.required else _HEADER_FILL
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(14, len(column.name) + 4)
        for number in range(2, len(rows) + 2):
            sheet.cell(row=number, column=index).number_format = "@"  # text, as typed
    sheet.freeze_panes = "A2"
    described = book.create_sheet(translate(N_("Columns"), language)[:31])
    described.append([translate(name, language) for name in DESCRIPTION_HEADER])
    for line in description_rows(spec.columns, _example_cells(rows), language):
        described.append(list(line))
    for index, width in enumerate((30, 10, 50, 30, 70), start=1):
        described.cell(row=1, column=index).font = _HEADER_FONT
        described.cell(row=1, column=index).fill = _HEADER_FILL
        described.column_dimensions[get_column_letter(index)].width = width
    for cells in described.iter_rows(min_row=2):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    described.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def template(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    kind: FileKind,
    source: SourceFormat,
    language: Language,
) -> tuple[bytes, str, str]:
    """``kind``'s template for the partner (its country's ids and phones, its currency's
    decimals) as (content, media type, file name); for whoever may send the partner's files."""
    partner = await partner_for_file(session, principal, partner_id, kind)
    country, currency = Country(partner.country), partner.currency
    name = SPECS[kind].file_name
    if source is SourceFormat.XLSX:
        content = await anyio.to_thread.run_sync(template_xlsx, kind, country, currency, language)
        return content, XLSX_MEDIA_TYPE, f"{name}.xlsx"
    return template_csv(kind, country, currency).encode(), "text/csv; charset=utf-8", f"{name}.csv"


# ---------------------------------------------------------------------------------------
# Dry runs


@dataclass(slots=True)
class DryRun:
    """What processing the file would report: rows read, rows refused, and the first
    :data:`DRY_RUN_REJECTIONS_SHOWN` refusals as (row, external_ref, field, reason)."""

    received: int = 0
    rejected: int = 0
    rejections: list[tuple[int, str | None, str, Message]] = field(default_factory=list)
    truncated: bool = False

    @property
    def accepted(self) -> int:
        return self.received - self.rejected

    def refuse(self, row_number: int, ref: str | None, errors: Sequence[RowError]) -> None:
        self.rejected += 1
        self.show(row_number, ref, [(e.field, e.text) for e in errors])

    def show(self, row_number: int, ref: str | None, errors: Sequence[tuple[str, Message]]) -> None:
        for where, reason in errors:
            if len(self.rejections) >= DRY_RUN_REJECTIONS_SHOWN:
                self.truncated = True
                return
            self.rejections.append((row_number, ref, where, reason))

    def count(self, rows: int) -> None:
        self.received += rows
        if self.received > DRY_RUN_MAX_ROWS:
            raise UnreadableUpload(
                N_("a dry run reads at most {max_rows} rows; send the file without dry_run"),
                params={"max_rows": DRY_RUN_MAX_ROWS},
            )


async def _spool(
    body: AsyncIterator[bytes], check: UploadCheck, path: Path, max_bytes: int
) -> None:
    """Write the upload to ``path`` as it arrives, checked on the way as a push's is."""
    try:
        async with await anyio.open_file(path, "wb") as handle:
            async for piece in body:
                check.feed(piece)
                if check.size > max_bytes:
                    raise PayloadTooLarge({"limit": max_bytes})
                await handle.write(piece)
        await anyio.to_thread.run_sync(check.finish)
    finally:
        check.close()


_CLOSED_REFS = """
SELECT external_ref FROM account
WHERE partner_id = :pid AND status = 'closed' AND external_ref = ANY(CAST(:refs AS text[]))
"""


async def dry_run_assignment(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    source: SourceFormat,
    body: AsyncIterator[bytes],
    *,
    max_json_bytes: int,
    workbook_limits: WorkbookLimits = DEFAULT_LIMITS,
    workers: int | None = None,
    now: datetime | None = None,
) -> DryRun:
    """The push's rows validated as the job validates them (same staging pool, same
    batches; nothing sealed or encoded for COPY), with the rows the merge would refuse (a
    repeated external_ref, an account the partner closed); nothing stored. An unreadable
    upload raises as a push's does."""
    partner = await partner_for_push(session, principal, partner_id)
    context = IntakeContext(
        Country(partner.country),
        partner.currency,
        partner_today(partner, now),
        fingerprint_key=vault.current().index_key,
    )
    report = DryRun()
    with tempfile.TemporaryDirectory(prefix="cartera-dry-run-") as folder:
        path = Path(folder) / f"push.{source.value}"
        limit = max_json_bytes if source is SourceFormat.JSON else DRY_RUN_MAX_BYTES
        await _spool(body, UploadCheck(source, limits=workbook_limits), path, limit)
        if source is SourceFormat.JSON:
            await anyio.to_thread.run_sync(check_json, path)
        reader = _BatchReader(
            source,
            path,
            workbook_limits,
            context,
            BATCH_ROWS,
            staging.configured_workers() if workers is None else workers,
            encode=False,
        )
        accepted: dict[str, int] = {}
        async with contextlib.aclosing(reader.batches()) as batches:
            async for batch in batches:
                report.count(batch.received)
                await _report_batch(session, partner.id, batch, accepted, report)
    return report


async def _report_batch(
    session: AsyncSession,
    partner_id: uuid.UUID,
    batch: staging.StagedBatch,
    accepted: dict[str, int],
    report: DryRun,
) -> None:
    refused: list[tuple[int, str | None, str, Message]] = [
        (row, ref, where, Message.from_json(json.loads(shown)))
        for row, ref, where, _english, shown in batch.rejections
    ]
    report.rejected += batch.rejected_rows
    repeated = _repeated(batch.accepted, accepted)
    again = {row for row, *_ in repeated}
    kept = [(ref, row) for ref, row in batch.accepted if row not in again]
    closed = set(
        await session.scalars(
            text(_CLOSED_REFS), {"pid": partner_id, "refs": sorted({ref for ref, _ in kept})}
        )
    )
    blocked = [
        (row, ref, "external_ref", Message(_ACCOUNT_CLOSED)) for ref, row in kept if ref in closed
    ]
    report.rejected += len(repeated) + len(blocked)
    for row, ref, where, reason in sorted([*refused, *repeated, *blocked], key=lambda r: r[0]):
        report.show(row, ref, [(where, reason)])


async def dry_run_file(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    source: SourceFormat,
    body: AsyncIterator[bytes],
    kind: FileKind,
    *,
    workbook_limits: WorkbookLimits = DEFAULT_LIMITS,
    now: datetime | None = None,
) -> DryRun:
    """A payment file's (or SPEI statement's) lines read as the job reads them: the lines it
    would report ``rejected``, each problem listed; nothing stored or applied. Whether a
    readable line finds its account is the job's to say (it is not a rejection)."""
    if source is SourceFormat.JSON:
        raise UnsupportedMediaType()
    partner = await partner_for_file(session, principal, partner_id, kind)
    context = FileContext(Country(partner.country), partner.currency, partner_today(partner, now))
    stored_kind = payment_files.SPEI if kind is FileKind.SPEI else payment_files.PAYMENTS
    layout = payment_files.LAYOUTS[stored_kind]
    report = DryRun()
    with tempfile.TemporaryDirectory(prefix="cartera-dry-run-") as folder:
        path = Path(folder) / f"payments.{source.value}"
        await _spool(body, UploadCheck(source, layout, workbook_limits), path, DRY_RUN_MAX_BYTES)
        rows = read_rows(source, path, layout, workbook_limits)
        while True:
            checked = await anyio.to_thread.run_sync(
                _check_lines, rows, context, payment_files.BATCH_LINES, stored_kind
            )
            if not checked:
                break
            report.count(len(checked))
            for number, ref, errors in checked:
                if errors:
                    report.refuse(number, ref, errors)
    return report


def _check_lines(
    rows: Iterator[tuple[int, Any]], context: FileContext, size: int, kind: str
) -> list[tuple[int, str | None, list[RowError]]]:
    """The next ``size`` lines, each with what is wrong with it (nothing for a good one)."""
    reader = payment_files.LINE_READERS[kind]
    checked: list[tuple[int, str | None, list[RowError]]] = []
    for number, raw in itertools.islice(rows, size):
        if isinstance(raw, RowShapeError):
            checked.append((number, None, [RowError("row", raw.text)]))
            continue
        result = reader(number, raw, context)
        ref = raw.get("external_ref")
        shown = ref.strip()[:64] if isinstance(ref, str) and ref.strip() else None
        checked.append((number, shown, result if isinstance(result, list) else []))
    return checked
