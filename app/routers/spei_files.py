from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

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
from app.domain.identity import mask_name
from app.domain.payment_files import Outcome
from app.i18n import Language, stored_text
from app.models.payment_file import PaymentFile, PaymentFileLine
from app.pagination import CursorQuery, LimitQuery, Page, decode_int_cursor, encode_cursor
from app.problems import problem_responses
from app.routers.assignments import (
    DRY_RUN_RESPONSE,
    DryRunQuery,
    add_template_routes,
    push_description,
    upload_body,
    upload_body_spec,
)
from app.routers.payment_files import dry_run_of_file, file_fields
from app.schemas.payment_files import (
    OutcomeName,
    PaymentFileLineApply,
)
from app.schemas.spei_files import SpeiDepositRead, SpeiFileRead
from app.services import spei_files as service
from app.services import uploads
from app.services.assignments import check_idempotency_key, partner_for_push
from app.services.file_kit import FileKind
from app.services.workbooks import WorkbookLimits

router = APIRouter(tags=["payments"])

_IDEMPOTENCY_KEY = idempotency_key_parameter(
    "The caller's own, per partner. A replay with the same key and statement returns the "
    "first one and applies nothing; the same key with another statement is a 422; without "
    "it, 400."
)
OutcomeQuery = Annotated[
    OutcomeName | None, Query(description="Only the deposits with this outcome.")
]

_FILE_BODY = upload_body_spec(
    "amount,date,beneficiary_clabe,tracking_key,payer_name,payer_bank\n"
    "1500.00,2026-11-20,646180000000000173,MBAN01002611200001,Juan Perez,BBVA MEXICO\n",
    "A .csv (UTF-8) or .xlsx file: the bank's statement of SPEI deposits.",
)


def _read(
    statement: PaymentFile, language: Language, rows: tuple[int, int | None] = (0, None)
) -> SpeiFileRead:
    base = f"{API_PREFIX}/spei-files/{statement.id}"
    return SpeiFileRead(
        **file_fields(statement, language),
        rows_done=rows[0],
        rows_total=rows[1],
        deposits_url=f"{base}/deposits",
        unmatched_url=f"{base}/unmatched",
    )


def _deposit(line: PaymentFileLine, language: Language) -> SpeiDepositRead:
    return SpeiDepositRead(
        row_number=line.row_number,
        outcome=line.outcome,
        beneficiary_clabe=line.payment_reference,
        tracking_key=line.payer_reference,
        amount=line.amount,
        date=line.paid_on,
        payer_name_masked=None if line.payer_name is None else mask_name(line.payer_name),
        payer_bank=line.payer_bank,
        account_id=line.account_id,
        payment_id=line.payment_id,
        duplicate_of=line.duplicate_of,
        detail=stored_text(line.detail_text, line.detail, language),
    )


_SEND_DOC = """Stores the statement and queues it; poll the returned resource. Each deposit is
applied, as `POST /payments` applies one, to the partner's account that owns the CLABE; a
tracking key already applied (in this statement or before) is a duplicate and is not applied
twice; a deposit no account can take (check digit, another bank's CLABE, unknown, another
partner's, recalled or closed account) is listed under `unmatched`. The partner's own system,
or admin and manager staff; Mexican partners only (422)."""

add_template_routes(
    router, "/partners/{partner_id}/spei-files/template", FileKind.SPEI, "SPEI statement"
)


@router.post(
    "/partners/{partner_id}/spei-files",
    summary="Send a SPEI statement (CSV or Excel) to apply its deposits by CLABE",
    description=push_description(
        _SEND_DOC, FileKind.SPEI, "/partners/{partner_id}/spei-files/template"
    ),
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SpeiFileRead,
    openapi_extra={"requestBody": _FILE_BODY, "parameters": [_IDEMPOTENCY_KEY]},
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422)
    | response_headers(202, headers=(LOCATION, IDEMPOTENT_REPLAYED))
    | DRY_RUN_RESPONSE,
)
async def send_spei_file(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    partner_id: uuid.UUID,
    language: LanguageDep,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRunQuery = False,
) -> SpeiFileRead | Response:
    if dry_run:
        return await dry_run_of_file(
            request, session, principal, settings, partner_id, language, FileKind.SPEI
        )
    check_idempotency_key(idempotency_key)
    await partner_for_push(session, principal, partner_id)
    source, body = await upload_body(request)
    statement, replayed = await service.submit_statement(
        session,
        principal,
        partner_id,
        idempotency_key,
        source,
        body,
        workbook_limits=WorkbookLimits.from_settings(settings),
    )
    response.headers["Location"] = f"{API_PREFIX}/spei-files/{statement.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _read(statement, language)


@router.get(
    "/spei-files/{spei_file_id}",
    summary="Read a SPEI statement's status, counts and amounts",
    response_model=SpeiFileRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_spei_file(
    session: SessionDep, principal: PrincipalDep, spei_file_id: uuid.UUID, language: LanguageDep
) -> SpeiFileRead:
    """With progress (`rows_done` / `rows_total`) while it is processed, as a payment file."""
    statement = await service.get_statement(session, principal, spei_file_id)
    rows = await uploads.progress_of(session, [statement])
    return _read(statement, language, rows[statement.id])


async def _page(
    session: SessionDep,
    principal: PrincipalDep,
    spei_file_id: uuid.UUID,
    outcome: Outcome | None,
    limit: int,
    cursor: str | None,
    language: Language,
) -> Page[SpeiDepositRead]:
    lines = await service.list_deposits(
        session,
        principal,
        spei_file_id,
        outcome=outcome,
        after=decode_int_cursor(cursor),
        limit=limit + 1,
    )
    next_cursor = encode_cursor(lines[limit - 1].row_number) if len(lines) > limit else None
    return Page(items=[_deposit(line, language) for line in lines[:limit]], next_cursor=next_cursor)


@router.get(
    "/spei-files/{spei_file_id}/deposits",
    summary="List a SPEI statement's deposits and what became of each",
    response_model=Page[SpeiDepositRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_spei_deposits(
    session: SessionDep,
    principal: PrincipalDep,
    spei_file_id: uuid.UUID,
    language: LanguageDep,
    outcome: OutcomeQuery = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[SpeiDepositRead]:
    """In file order; payer names are masked."""
    wanted = None if outcome is None else Outcome(outcome)
    return await _page(session, principal, spei_file_id, wanted, limit, cursor, language)


@router.get(
    "/spei-files/{spei_file_id}/unmatched",
    summary="List a SPEI statement's deposits that found no account",
    response_model=Page[SpeiDepositRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_unmatched_spei_deposits(
    session: SessionDep,
    principal: PrincipalDep,
    spei_file_id: uuid.UUID,
    language: LanguageDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[SpeiDepositRead]:
    """The deposits waiting to be applied by hand, each with why it found no account."""
    return await _page(session, principal, spei_file_id, Outcome.UNMATCHED, limit, cursor, language)


@router.post(
    "/spei-files/{spei_file_id}/deposits/{row_number}/apply",
    summary="Apply an unmatched SPEI deposit to an account, by hand",
    response_model=SpeiDepositRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def apply_spei_deposit(
    session: SessionDep,
    principal: PrincipalDep,
    spei_file_id: uuid.UUID,
    row_number: Annotated[int, Path(ge=1, le=2_147_483_647)],
    body: PaymentFileLineApply,
    language: LanguageDep,
) -> SpeiDepositRead:
    """For a deposit listed as unmatched whose account someone found: applied as the
    statement's deposits are (installments, promises, balance, credit), audited with the
    note. Whoever may record payments (partner systems on their own statements and
    accounts, collectors and team leads on accounts they can see, managers, admins; 404 for
    an account or statement they cannot see). The account must be the statement's partner's,
    in its currency (422), neither recalled nor closed (409). A deposit that is not unmatched
    is a 409 `payment_file_line_not_unmatched`, as is a tracking key applied since (409)."""
    line = await service.apply_deposit(
        session, principal, spei_file_id, row_number, body.account_id, body.note
    )
    return _deposit(line, language)
