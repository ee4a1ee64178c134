from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

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
from app.domain.payment_files import Outcome
from app.i18n import Language, stored_text
from app.models.payment_file import PaymentFile, PaymentFileLine
from app.pagination import (
    CursorQuery,
    LimitQuery,
    Page,
    decode_id_cursor,
    decode_int_cursor,
    encode_cursor,
    split_page,
)
from app.problems import problem_responses
from app.routers.assignments import (
    DRY_RUN_RESPONSE,
    DryRunQuery,
    add_template_routes,
    dry_run_answer,
    push_description,
    upload_body,
    upload_body_spec,
)
from app.schemas.payment_files import (
    OutcomeName,
    PaymentFileAmounts,
    PaymentFileCounts,
    PaymentFileLineApply,
    PaymentFileLineRead,
    PaymentFileRead,
)
from app.services import file_kit, uploads
from app.services import payment_files as service
from app.services.file_kit import FileKind
from app.services.tabular_uploads import table_csv
from app.services.workbooks import WorkbookLimits

router = APIRouter(tags=["payments"])

_IDEMPOTENCY_KEY = idempotency_key_parameter(
    "The caller's own, per partner: another caller's key is a new key. A replay with the same "
    "key and file returns the first payment file and applies nothing; the same key with "
    "another file is a 422; without it, 400."
)
OutcomeQuery = Annotated[OutcomeName | None, Query(description="Only the lines with this outcome.")]

_FILE_BODY = upload_body_spec(
    "external_ref,payment_reference,amount,paid_on,channel,payer_reference\n"
    "TC-0001,,1500.00,2026-11-20,spei,MBAN01002611200001\n"
    ",000000000017 40,800.00,2026-11-20,cash_store,OXXO-7781-22\n",
    "A .csv (UTF-8) or .xlsx file.",
)


def file_fields(payment_file: PaymentFile, language: Language) -> dict[str, Any]:
    """What a payment file and a SPEI statement (a payment file of another kind) both show:
    status, counts, amounts, failure in the reader's language, who sent it and when."""
    return {
        "id": payment_file.id,
        "partner_id": payment_file.partner_id,
        "status": payment_file.status,
        "source_format": payment_file.source_format,
        "body_bytes": payment_file.body_bytes,
        "counts": PaymentFileCounts(
            received=payment_file.received,
            matched=payment_file.matched,
            matched_by_reference=payment_file.matched_by_reference,
            matched_by_hand=payment_file.matched_by_hand,
            unmatched=payment_file.unmatched,
            duplicates=payment_file.duplicates,
            rejected=payment_file.rejected,
        ),
        "amounts": PaymentFileAmounts(
            applied=payment_file.applied_amount,
            unmatched=payment_file.unmatched_amount,
            currency=payment_file.currency,
        ),
        "failure": stored_text(payment_file.failure_text, payment_file.failure, language),
        "submitted_by": payment_file.submitted_by,
        "submitted_at": payment_file.submitted_at,
        "started_at": payment_file.started_at,
        "finished_at": payment_file.finished_at,
    }


def _read(
    payment_file: PaymentFile, language: Language, rows: tuple[int, int | None] = (0, None)
) -> PaymentFileRead:
    base = f"{API_PREFIX}/payment-files/{payment_file.id}"
    return PaymentFileRead(
        **file_fields(payment_file, language),
        rows_done=rows[0],
        rows_total=rows[1],
        lines_url=f"{base}/lines",
        report_csv_url=f"{base}/report.csv",
    )


def _line(line: PaymentFileLine, language: Language) -> PaymentFileLineRead:
    read = PaymentFileLineRead.model_validate(line, from_attributes=True)
    read.detail = stored_text(line.detail_text, line.detail, language)
    return read


async def dry_run_of_file(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    partner_id: uuid.UUID,
    language: Language,
    kind: FileKind,
) -> Response:
    """A payment file or SPEI statement sent with ``dry_run=true``: its report, 200."""
    await service.partner_for_push(session, principal, partner_id)
    source, body = await upload_body(request)
    report = await file_kit.dry_run_file(
        session, principal, partner_id, source, body, kind,
        workbook_limits=WorkbookLimits.from_settings(settings),
    )  # fmt: skip
    return dry_run_answer(report, language)


_SEND_DOC = """Stores the file and queues it; poll the returned file for its status, counts and
amounts, and read its reconciliation report line by line. Each line names its account by
`external_ref` or by the account's `payment_reference`. Lines are applied as `POST /payments`
applies one; a payer reference already applied is a duplicate and is not applied twice, so
sending a file again applies nothing new."""

add_template_routes(
    router, "/partners/{partner_id}/payment-files/template", FileKind.PAYMENTS, "payment file"
)


@router.post(
    "/partners/{partner_id}/payment-files",
    summary="Send a payment file (CSV or Excel) to reconcile and apply",
    description=push_description(
        _SEND_DOC, FileKind.PAYMENTS, "/partners/{partner_id}/payment-files/template"
    ),
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PaymentFileRead,
    openapi_extra={"requestBody": _FILE_BODY, "parameters": [_IDEMPOTENCY_KEY]},
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422)
    | response_headers(202, headers=(LOCATION, IDEMPOTENT_REPLAYED))
    | DRY_RUN_RESPONSE,
)
async def send_payment_file(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    partner_id: uuid.UUID,
    language: LanguageDep,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRunQuery = False,
) -> PaymentFileRead | Response:
    if dry_run:
        return await dry_run_of_file(
            request, session, principal, settings, partner_id, language, FileKind.PAYMENTS
        )
    service.check_idempotency_key(idempotency_key)
    await service.partner_for_push(session, principal, partner_id)
    source, body = await upload_body(request)
    payment_file, replayed = await service.submit_file(
        session,
        principal,
        partner_id,
        idempotency_key,
        source,
        body,
        workbook_limits=WorkbookLimits.from_settings(settings),
    )
    response.headers["Location"] = f"{API_PREFIX}/payment-files/{payment_file.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _read(payment_file, language)


@router.get(
    "/payment-files/{payment_file_id}",
    summary="Read a payment file's status, counts and amounts",
    response_model=PaymentFileRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_payment_file(
    session: SessionDep, principal: PrincipalDep, payment_file_id: uuid.UUID, language: LanguageDep
) -> PaymentFileRead:
    payment_file = await service.get_file(session, principal, payment_file_id)
    rows = await uploads.progress_of(session, [payment_file])
    return _read(payment_file, language, rows[payment_file.id])


@router.get(
    "/partners/{partner_id}/payment-files",
    summary="List a partner's payment files",
    response_model=Page[PaymentFileRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_partner_payment_files(
    session: SessionDep,
    principal: PrincipalDep,
    partner_id: uuid.UUID,
    language: LanguageDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PaymentFileRead]:
    """Newest first, with progress (`rows_done` / `rows_total`) of those being processed."""
    found = await service.list_files(
        session, principal, partner_id, decode_id_cursor(cursor), limit
    )
    page, next_cursor = split_page(found, limit, lambda f: f.id)
    rows = await uploads.progress_of(session, page)
    return Page(items=[_read(f, language, rows[f.id]) for f in page], next_cursor=next_cursor)


@router.get(
    "/payment-files/{payment_file_id}/lines",
    summary="List a payment file's reconciliation report",
    response_model=Page[PaymentFileLineRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_payment_file_lines(
    session: SessionDep,
    principal: PrincipalDep,
    payment_file_id: uuid.UUID,
    language: LanguageDep,
    outcome: OutcomeQuery = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PaymentFileLineRead]:
    """In file order; filter by outcome to work the unmatched lines, for instance."""
    payment_file = await service.get_file(session, principal, payment_file_id)
    after = decode_int_cursor(cursor)
    lines = await service.list_lines(
        session,
        payment_file.id,
        outcome=None if outcome is None else Outcome(outcome),
        after=after,
        limit=limit + 1,
    )
    next_cursor = encode_cursor(lines[limit - 1].row_number) if len(lines) > limit else None
    return Page(items=[_line(line, language) for line in lines[:limit]], next_cursor=next_cursor)


@router.post(
    "/payment-files/{payment_file_id}/lines/{row_number}/apply",
    summary="Apply an unmatched line of a payment file to an account, by hand",
    response_model=PaymentFileLineRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def apply_payment_file_line(
    session: SessionDep,
    principal: PrincipalDep,
    payment_file_id: uuid.UUID,
    row_number: Annotated[int, Path(ge=1, le=2_147_483_647)],
    body: PaymentFileLineApply,
    language: LanguageDep,
) -> PaymentFileLineRead:
    """For a line reported `unmatched` whose account someone found: the money is applied to
    that account as the file's lines are (installments, promises, balance, credit), dated
    and channelled as the line says and recorded as by whoever sent the file. The line
    becomes `matched_by_hand` with its account and payment, and the file's unmatched amount
    moves to its applied amount. Managers, and team leads on accounts they can see (404
    otherwise). The account must be the file's partner's, in the file's currency (422), and
    not recalled (409). A line that is not unmatched (applied already, by the job or by
    hand) is a 409 `payment_file_line_not_unmatched`, as is a payer reference applied since
    (409)."""
    line = await service.apply_line_by_hand(
        session, principal, payment_file_id, row_number, body.account_id, body.note
    )
    return _line(line, language)


# The report is the stored line without its file id, its detail in the reader's language.
REPORT_HEADER = service.REPORT_COLUMNS


@router.get(
    "/payment-files/{payment_file_id}/report.csv",
    summary="Download a payment file's reconciliation report as CSV",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses(401, 403, 404, 422),
    },
)
async def download_payment_file_report(
    session: SessionDep,
    principal: PrincipalDep,
    payment_file_id: uuid.UUID,
    language: LanguageDep,
    outcome: OutcomeQuery = None,
) -> StreamingResponse:
    payment_file = await service.get_file(session, principal, payment_file_id)
    wanted = None if outcome is None else Outcome(outcome)
    rows = [
        tuple(
            stored_text(line.detail_text, line.detail, language)
            if name == "detail"
            else getattr(line, name)
            for name in REPORT_HEADER
        )
        async for line in service.stream_lines(session, payment_file.id, wanted)
    ]
    return StreamingResponse(
        table_csv(REPORT_HEADER, rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="reconciliation-{payment_file.id}.csv"'
        },
    )
