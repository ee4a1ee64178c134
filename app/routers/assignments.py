from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.datastructures import UploadFile

from app.contract import IDEMPOTENT_REPLAYED, LOCATION, response_headers
from app.deps import (
    API_PREFIX,
    IdempotencyKey,
    LanguageDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    idempotency_key_parameter,
)
from app.domain.errors import InvalidInput, UnsupportedMediaType
from app.i18n import N_, Language, stored_text
from app.models.assignment import Assignment
from app.pagination import (
    CursorQuery,
    LimitQuery,
    Page,
    decode_cursor,
    decode_id_cursor,
    encode_cursor,
    split_page,
)
from app.problems import problem_responses
from app.schemas.assignments import (
    AssignmentCounts,
    AssignmentRead,
    RecallCreate,
    RecallRead,
    RejectionRead,
)
from app.schemas.file_kit import DryRunReport
from app.services import assignments as service
from app.services import file_kit, recalls, uploads
from app.services.file_kit import DRY_RUN_MAX_ROWS, DRY_RUN_REJECTIONS_SHOWN, DryRun, FileKind
from app.services.tabular_uploads import (
    XLSX_MEDIA_TYPE,
    SourceFormat,
    format_of,
    rejections_csv,
)
from app.services.workbooks import WorkbookLimits

router = APIRouter(tags=["assignments"])

READ_CHUNK = 256 * 1024

_IDEMPOTENCY_KEY = idempotency_key_parameter(
    "The caller's own, per partner: another caller's key is a new key. A replay with the same "
    "key and body returns the first assignment and writes nothing; the same key with another "
    "body is a 422; without it, 400."
)


def upload_body_spec(
    csv_example: str, file_description: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The documented request body of an upload: CSV, a workbook, or a multipart `file`
    whose part announces one of the body's media types (or a file name ending in one)."""
    part_types = [*(extra or {}), "text/csv", XLSX_MEDIA_TYPE]
    return {
        "required": True,
        "content": {
            **(extra or {}),
            "text/csv": {"schema": {"type": "string"}, "example": csv_example},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": file_description,
                        }
                    },
                },
                "encoding": {"file": {"contentType": ", ".join(part_types)}},
            },
        },
    }


# ---------------------------------------------------------------------------------------
# The file kit: templates, the column table, dry runs (app/services/file_kit.py)

DryRunQuery = Annotated[
    bool,
    Query(
        description="Validate the file as its processing would and store nothing: 200 with "
        "the report instead of 202."
    ),
]
DRY_RUN_RESPONSE: dict[int | str, Any] = {
    200: {
        "model": DryRunReport,
        "description": "`dry_run=true`: what processing would report; nothing was stored.",
    }
}
_DRY_RUN_NOTE = (
    "**Dry run** (`?dry_run=true`): the file is read and every row validated exactly as its "
    "processing would, and nothing is stored (no upload, no account or payment, no ledger "
    "entry, no audit record): the answer is a 200 with the counts and the rejections (the "
    f"first {DRY_RUN_REJECTIONS_SHOWN}, in the shape of a push's rejections). It runs within "
    f"the request, so it reads at most {DRY_RUN_MAX_ROWS} rows (422 beyond) and "
    f"{file_kit.DRY_RUN_MAX_BYTES // (1024 * 1024)} MiB (413); send a bigger file without "
    "it. A dry run needs no Idempotency-Key and does not use one it is given: the same key "
    "then works for the real push.\n\n"
    "**Template**: `GET {template}.csv` or `.xlsx` (the workbook's second sheet describes "
    "each column in the caller's language). In a CSV separated by `;` (Excel in Spanish and "
    "Portuguese), amounts may use a decimal comma (`1234,56`, `1.234,56`)."
)


def push_description(doc: str, kind: FileKind, template_path: str) -> str:
    """An upload's description: what it does, the dry run, and its columns' table (from the
    column definitions the reader checks headers against)."""
    return (
        f"{inspect.cleandoc(doc)}\n\n{_DRY_RUN_NOTE.format(template=template_path)}\n\n"
        f"**Columns**, in order:\n\n{file_kit.column_table(kind)}"
    )


def dry_run_answer(report: DryRun, language: Language) -> JSONResponse:
    """A dry run's report, 200."""
    body = DryRunReport(
        received=report.received,
        accepted=report.accepted,
        rejected=report.rejected,
        rejections=[
            RejectionRead(
                row_number=row, external_ref=ref, field=where, message=reason.render(language)
            )
            for row, ref, where, reason in report.rejections
        ],
        rejections_truncated=report.truncated,
    )
    return JSONResponse(body.model_dump(mode="json"))


_TEMPLATE_CONTENT: dict[SourceFormat, dict[str, Any]] = {
    SourceFormat.CSV: {"text/csv": {"schema": {"type": "string"}}},
    SourceFormat.XLSX: {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
}
Handler = Callable[..., Coroutine[Any, Any, Response]]


def _template_handler(kind: FileKind, source: SourceFormat) -> Handler:
    async def download_template(
        session: SessionDep, principal: PrincipalDep, partner_id: uuid.UUID, language: LanguageDep
    ) -> Response:
        content, media_type, name = await file_kit.template(
            session, principal, partner_id, kind, source, language
        )
        return Response(
            content,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return download_template


def add_template_routes(target: APIRouter, path: str, kind: FileKind, what: str) -> None:
    """``GET {path}.csv`` and ``GET {path}.xlsx``: the template of ``kind`` for a partner,
    for whoever may send it that kind of file."""
    for source in (SourceFormat.CSV, SourceFormat.XLSX):
        target.add_api_route(
            f"{path}.{source.value}",
            _template_handler(kind, source),
            methods=["GET"],
            name=f"download_{kind.value}_template_{source.value}",
            summary=f"Download a template {what} ({source.value.upper()})",
            description=(
                "Every accepted column in order and example rows (made-up data, valid for the "
                "partner's country and currency) that a dry run accepts as they are."
                + (
                    " The second sheet describes each column in the caller's language."
                    if source is SourceFormat.XLSX
                    else ""
                )
                + " Whoever may send the partner this kind of file."
            ),
            response_class=Response,
            responses={
                200: {"content": _TEMPLATE_CONTENT[source]},
                **problem_responses(401, 403, 404, 409, 422),
            },
        )


add_template_routes(
    router, "/partners/{partner_id}/assignments/template", FileKind.ASSIGNMENTS, "portfolio push"
)


_PUSH_BODY = upload_body_spec(
    "external_ref,product_type,currency,principal,interest,fees,total,"
    "past_due_amount,oldest_unpaid_due_date,debtor_first_names,debtor_last_names,"
    "debtor_national_id_type,debtor_national_id,debtor_phones\n"
    "TC-0001,revolving,MXN,1000.00,120.50,0,1120.50,300.00,2026-09-15,Juan,Pérez López,"
    "CURP,BOXW310820HNERXN09,55 1234 5678|33 1234 5678\n",
    "A .csv (UTF-8), .xlsx or .json file.",
    {"application/json": {"schema": {"$ref": "#/components/schemas/AssignmentPush"}}},
)


def _read(
    assignment: Assignment, language: Language, rows: tuple[int, int | None] = (0, None)
) -> AssignmentRead:
    base = f"{API_PREFIX}/assignments/{assignment.id}"
    return AssignmentRead(
        id=assignment.id,
        rows_done=rows[0],
        rows_total=rows[1],
        partner_id=assignment.partner_id,
        status=assignment.status,
        source_format=assignment.source_format,
        body_bytes=assignment.body_bytes,
        counts=AssignmentCounts(
            received=assignment.received,
            created=assignment.created,
            updated=assignment.updated,
            unchanged=assignment.unchanged,
            rejected=assignment.rejected,
        ),
        failure=stored_text(assignment.failure_text, assignment.failure, language),
        submitted_by=assignment.submitted_by,
        submitted_at=assignment.submitted_at,
        started_at=assignment.started_at,
        finished_at=assignment.finished_at,
        rejections_url=f"{base}/rejections",
        rejections_csv_url=f"{base}/rejections.csv",
    )


async def upload_body(request: Request) -> tuple[SourceFormat, AsyncIterator[bytes]]:
    """The push's format and its bytes as they arrive: a raw body, or the `file` part of a
    multipart form (spooled to disk by the parser, so memory stays flat)."""
    media_type = request.headers.get("content-type", "")
    if media_type.split(";")[0].strip().lower() == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("file", N_("send the portfolio file in a part named 'file'"))
        source = format_of(upload.content_type, upload.filename)
        if source is None:
            raise UnsupportedMediaType()

        async def parts() -> AsyncIterator[bytes]:
            while piece := await upload.read(READ_CHUNK):
                yield piece

        return source, parts()
    source = format_of(media_type)
    if source is None:
        raise UnsupportedMediaType()
    return source, request.stream()


_PUSH_DOC = """Stores the upload and queues it; poll the returned assignment for progress, counts
and rejected rows. Bad rows are reported one by one while good rows in the same push are
accepted. CSV must be UTF-8; JSON rows nest the same fields (`debtor`, `references`,
`guarantors`: see the `AssignmentPush` schema)."""


@router.post(
    "/partners/{partner_id}/assignments",
    summary="Push a portfolio (asignación) as JSON, CSV or Excel",
    description=push_description(
        _PUSH_DOC, FileKind.ASSIGNMENTS, "/partners/{partner_id}/assignments/template"
    ),
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AssignmentRead,
    openapi_extra={"requestBody": _PUSH_BODY, "parameters": [_IDEMPOTENCY_KEY]},
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422)
    | response_headers(202, headers=(LOCATION, IDEMPOTENT_REPLAYED))
    | DRY_RUN_RESPONSE,
)
async def push_assignment(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    partner_id: uuid.UUID,
    language: LanguageDep,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRunQuery = False,
) -> AssignmentRead | Response:
    if not dry_run:
        service.check_idempotency_key(idempotency_key)
    await service.partner_for_push(session, principal, partner_id)
    source, body = await upload_body(request)
    if dry_run:
        report = await file_kit.dry_run_assignment(
            session,
            principal,
            partner_id,
            source,
            body,
            max_json_bytes=settings.max_json_push_bytes,
            workbook_limits=WorkbookLimits.from_settings(settings),
        )
        return dry_run_answer(report, language)
    assignment, replayed = await service.submit_assignment(
        session,
        principal,
        partner_id,
        idempotency_key,
        source,
        body,
        max_json_bytes=settings.max_json_push_bytes,
        workbook_limits=WorkbookLimits.from_settings(settings),
    )
    response.headers["Location"] = f"{API_PREFIX}/assignments/{assignment.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _read(assignment, language)


@router.get(
    "/assignments/{assignment_id}",
    summary="Read a push's status and counts",
    response_model=AssignmentRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_assignment(
    session: SessionDep, principal: PrincipalDep, assignment_id: uuid.UUID, language: LanguageDep
) -> AssignmentRead:
    assignment = await service.get_assignment(session, principal, assignment_id)
    rows = await uploads.progress_of(session, [assignment])
    return _read(assignment, language, rows[assignment.id])


@router.get(
    "/partners/{partner_id}/assignments",
    summary="List a partner's portfolio pushes",
    response_model=Page[AssignmentRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_partner_assignments(
    session: SessionDep,
    principal: PrincipalDep,
    partner_id: uuid.UUID,
    language: LanguageDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[AssignmentRead]:
    """Newest first, with progress (`rows_done` / `rows_total`) of those being processed."""
    found = await service.list_assignments(
        session, principal, partner_id, decode_id_cursor(cursor), limit
    )
    page, next_cursor = split_page(found, limit, lambda a: a.id)
    rows = await uploads.progress_of(session, page)
    return Page(items=[_read(a, language, rows[a.id]) for a in page], next_cursor=next_cursor)


def _rejection_cursor(cursor: str | None) -> tuple[int, int] | None:
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    if not all(v.isascii() and v.isdigit() and len(v) < 10 for v in values):
        raise InvalidInput("query.cursor", N_("not a cursor this API issued"))
    return int(values[0]), int(values[1])


@router.get(
    "/assignments/{assignment_id}/rejections",
    summary="List a push's rejected rows",
    response_model=Page[RejectionRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_assignment_rejections(
    session: SessionDep,
    principal: PrincipalDep,
    assignment_id: uuid.UUID,
    language: LanguageDep,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[RejectionRead]:
    """In row order; a row with several problems has one entry per problem."""
    assignment = await service.get_assignment(session, principal, assignment_id)
    after = _rejection_cursor(cursor)
    rows = await service.list_rejections(session, assignment.id, after=after, limit=limit + 1)
    next_cursor = (
        encode_cursor(rows[limit - 1].row_number, rows[limit - 1].seq)
        if len(rows) > limit
        else None
    )
    return Page(
        items=[
            RejectionRead(
                row_number=r.row_number,
                external_ref=r.external_ref,
                field=r.field,
                message=service.rejection_message(r, language),
            )
            for r in rows[:limit]
        ],
        next_cursor=next_cursor,
    )


@router.get(
    "/assignments/{assignment_id}/rejections.csv",
    summary="Download a push's rejected rows as CSV",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses(401, 403, 404, 422),
    },
)
async def download_assignment_rejections(
    session: SessionDep, principal: PrincipalDep, assignment_id: uuid.UUID, language: LanguageDep
) -> StreamingResponse:
    assignment = await service.get_assignment(session, principal, assignment_id)
    rows = [row async for row in service.stream_rejections(session, assignment.id, language)]
    return StreamingResponse(
        rejections_csv(iter(rows)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="rejections-{assignment.id}.csv"'},
    )


@router.post(
    "/partners/{partner_id}/recalls",
    summary="Recall accounts (retiro): the partner takes them back",
    response_model=RecallRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def recall_accounts(
    session: SessionDep, principal: PrincipalDep, partner_id: uuid.UUID, body: RecallCreate
) -> RecallRead:
    """Recalled accounts leave their collector and every queue, and no further contact is
    allowed on them; their history stays. Refs already recalled or unknown are listed."""
    result = await recalls.recall_accounts(
        session, principal, partner_id, body.external_refs, body.reason
    )
    return RecallRead(
        requested=result.requested,
        recalled=result.recalled,
        already_inactive=result.already_inactive,
        unknown=result.unknown,
    )
