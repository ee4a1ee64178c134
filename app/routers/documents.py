from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.contract import LOCATION, response_headers
from app.deps import API_PREFIX, DatabaseDep, PrincipalDep, SessionDep, SettingsDep
from app.domain.documents import EXTENSIONS, CustodyStatus, DocumentKind, MediaType
from app.models.document import AccountDocument
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.routers.listing import PartnerFilter, TeamFilter, scope_of
from app.schemas.accounts import AccountLabelRead
from app.schemas.common import PlainText
from app.schemas.documents import (
    CustodyChange,
    CustodyRead,
    CustodyStatusName,
    DocumentKindName,
    DocumentListItem,
    DocumentRead,
)
from app.services import documents as service

router = APIRouter(tags=["documents"])

KindQuery = Annotated[DocumentKindName, Query(description="What the document is.")]
TitleQuery = Annotated[
    PlainText | None,
    Query(min_length=1, max_length=200, description="A short human title, e.g. `INE frente`."),
]
KindFilter = Annotated[
    DocumentKindName | None, Query(description="Only the documents of this kind.")
]

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_DOCUMENT_BODY: dict[str, Any] = {
    "required": True,
    "description": "The file itself as the raw body (no multipart), its `Content-Type` one of "
    "the three accepted; the first bytes must be that format's signature.",
    "content": {media_type.value: _BINARY for media_type in MediaType},
}


def _read(document: AccountDocument) -> DocumentRead:
    return DocumentRead(
        id=document.id,
        account_id=document.account_id,
        partner_id=document.partner_id,
        debtor_id=document.debtor_id,
        kind=document.kind,
        title=document.title,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        uploaded_by=document.uploaded_by,
        uploaded_at=document.uploaded_at,
        custody=CustodyRead(
            status=document.custody_status,
            on=document.custody_on,
            by=document.custody_by,
            note=document.custody_note,
            recorded_by=document.custody_recorded_by,
            recorded_at=document.custody_recorded_at,
            holder_id=document.custody_holder_id,
        ),
        content_url=f"{API_PREFIX}/documents/{document.id}/content",
    )


def _content_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


@router.post(
    "/accounts/{account_id}/documents",
    summary="Upload a document (PDF, JPEG or PNG) for an account",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentRead,
    openapi_extra={"requestBody": _DOCUMENT_BODY},
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422)
    | response_headers(201, headers=(LOCATION,)),
)
async def upload_document(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    account_id: uuid.UUID,
    kind: KindQuery,
    title: TitleQuery = None,
) -> DocumentRead:
    """Send the file as the raw request body with its `Content-Type` (`application/pdf`,
    `image/jpeg` or `image/png`; anything else, multipart included, is a 415) and say what it
    is with the `kind` and `title` query parameters. A body whose first bytes are not those
    of its declared type is a 415; a body larger than the configured document limit is a 413
    (checked while it streams in; nothing is kept); an empty one is a 422. The bytes are
    sealed (AES-256-GCM) into the database as they stream in, once per partner and SHA-256:
    uploading the same file again adds a document but no copy. Whoever may see the account
    may upload to it, except auditors (403)."""
    document = await service.upload_document(
        session,
        principal,
        account_id,
        kind=DocumentKind(kind),
        title=(title or "").strip() or None,
        content_type=request.headers.get("content-type"),
        content_length=_content_length(request),
        body=request.stream(),
        limit=settings.max_document_bytes,
    )
    response.headers["Location"] = f"{API_PREFIX}/documents/{document.id}"
    return _read(document)


@router.get(
    "/accounts/{account_id}/documents",
    summary="List an account's documents",
    response_model=Page[DocumentRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_account_documents(
    session: SessionDep,
    principal: PrincipalDep,
    account_id: uuid.UUID,
    kind: KindFilter = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[DocumentRead]:
    """Newest first. An account the caller may not see is a 404."""
    documents, next_cursor = await service.list_documents(
        session,
        principal,
        account_id,
        kind=None if kind is None else DocumentKind(kind),
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[_read(d) for d in documents], next_cursor=next_cursor)


@router.get(
    "/documents",
    summary="List documents across accounts (originals still in the field)",
    response_model=Page[DocumentListItem],
    responses=problem_responses(401, 403, 422),
)
async def search_documents(
    session: SessionDep,
    principal: PrincipalDep,
    custody: Annotated[CustodyStatusName | None, Query()] = None,
    collector_id: Annotated[
        uuid.UUID | None,
        Query(description="Only originals this collector holds (custody `with_collector`)."),
    ] = None,
    kind: KindFilter = None,
    partner_id: PartnerFilter = None,
    team_id: TeamFilter = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[DocumentListItem]:
    """Newest first, on the accounts the caller may see, each with its account's reference,
    debtor and collector: the paper originals still in the field are
    `custody=with_collector` (with `collector_id`: one collector's), for the office to
    chase before they are lost."""
    page = await service.search_documents(
        session,
        principal,
        scope_of(partner_id, None, team_id),
        custody=None if custody is None else CustodyStatus(custody),
        holder_id=collector_id,
        kind=None if kind is None else DocumentKind(kind),
        limit=limit,
        cursor=cursor,
    )
    return Page(
        items=[
            DocumentListItem(
                **dict(_read(d)),
                account=AccountLabelRead.model_validate(page.label_of(d.account_id)),
            )
            for d in page.rows
        ],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/documents/{document_id}",
    summary="Read a document's details and the custody of its paper original",
    response_model=DocumentRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_document(
    session: SessionDep, principal: PrincipalDep, document_id: uuid.UUID
) -> DocumentRead:
    """A document on an account the caller may not see is a 404."""
    return _read(await service.get_document(session, principal, document_id))


_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, with its own content type.",
        "content": {media_type.value: _BINARY for media_type in MediaType},
        "headers": {
            "Content-Disposition": {
                "description": 'attachment; filename="<kind>-<id>.<ext>"',
                "schema": {"type": "string"},
            },
            "X-Content-SHA256": {
                "description": "SHA-256 of the bytes, as on the document.",
                "schema": {"type": "string"},
            },
        },
    },
    **problem_responses(401, 403, 404, 422),
}


@router.get(
    "/documents/{document_id}/content",
    summary="Download a document's bytes (audited)",
    response_class=StreamingResponse,
    responses=_DOWNLOAD_RESPONSES,
)
async def download_document(
    session: SessionDep,
    principal: PrincipalDep,
    database: DatabaseDep,
    document_id: uuid.UUID,
) -> StreamingResponse:
    """Every download is recorded in the audit trail (`document.downloaded`) before the
    bytes are sent. The stored bytes are checked whole first (each sealed chunk opened, the
    SHA-256 compared); bytes that fail the check are never sent (500, logged)."""
    download = await service.download_document(session, principal, document_id)
    document = download.document
    extension = EXTENSIONS[MediaType(document.content_type)]
    return StreamingResponse(
        service.document_content(database.sessionmaker, download),
        media_type=document.content_type,
        headers={
            "Content-Length": str(document.size_bytes),
            "Content-Disposition": (
                f'attachment; filename="{document.kind}-{document.id}.{extension}"'
            ),
            "X-Content-SHA256": document.sha256,
        },
    )


@router.get(
    "/documents/{document_id}/download",
    summary="Download a document's bytes (audited; the same as /content)",
    response_class=StreamingResponse,
    responses=_DOWNLOAD_RESPONSES,
)
async def download_document_file(
    session: SessionDep,
    principal: PrincipalDep,
    database: DatabaseDep,
    document_id: uuid.UUID,
) -> StreamingResponse:
    """The original bytes, as `GET /documents/{document_id}/content` answers them (the
    name clients of the security review expect); audited the same way."""
    return await download_document(session, principal, database, document_id)


@router.post(
    "/documents/{document_id}/custody",
    summary="Record where a document's paper original is (custody moves only forward)",
    response_model=DocumentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def record_document_custody(
    session: SessionDep, principal: PrincipalDep, document_id: uuid.UUID, body: CustodyChange
) -> DocumentRead:
    """A document is `digital_only` until a paper original is recorded. Custody moves only
    forward: `with_collector` → `delivered_to_office` → `destroyed` (an original may also
    reach the office directly; it is destroyed only once at the office); any other move is a
    409. The collector (or the office) records `with_collector`; team leads, managers and
    admins record `delivered_to_office` and `destroyed`; other roles get a 403. `on` is a
    business date, not in the future and not before the previous step (422)."""
    return _read(await service.record_custody(session, principal, document_id, body))
