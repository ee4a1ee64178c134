"""Account documents: upload, list, read, download (audited) and the custody of the paper
original.

Choices made here:

- Documents are seen through their account (:func:`app.services.accounts.readable_accounts`):
  a document on an account the caller may not see is a 404. Every role that sees the
  account may upload to it except the auditor, who only reads (403).
- The bytes are stored content-addressed by SHA-256 under ``<data_dir>/documents/<sha[:2]>/
  <sha>``: streamed to a temporary file in ``documents/tmp`` (same file system), checked on
  the way (size limit, magic bytes of the declared type, and how it ends: the last KiB is
  kept while streaming for that), flushed to disk and renamed into
  place atomically. The same bytes uploaded twice (to one account or to two) are stored once
  and referenced by two rows. Nothing is kept of a refused upload.
- The file lands before the transaction commits; if the transaction then fails, a stored
  file may be left that no row references. That is harmless (content-addressed, never
  served without a row); :func:`sweep_orphans` (``cartera jobs documents-sweep``) deletes
  such files, and temporary files a dead process left, once they are older than a grace
  period. Placing bytes that are already stored touches the file, so an upload in flight
  always finds its file younger than the grace.
- Every upload, custody step and download is recorded with :func:`app.services.audit.record`
  (``document.uploaded``, ``document.custody_recorded``, ``document.downloaded``).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import anyio
import anyio.to_thread
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.domain.documents import (
    SNIFF_BYTES,
    TAIL_BYTES,
    Custody,
    CustodyStatus,
    DocumentKind,
    MediaType,
    change_custody,
    content_ends_right,
    content_matches,
    declared_media_type,
    may_record_custody,
    may_upload,
)
from app.domain.errors import (
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
)
from app.i18n import N_
from app.models.account import Account
from app.models.document import AccountDocument
from app.models.partner import Partner
from app.pagination import decode_id_cursor, split_page
from app.schemas.documents import CustodyChange
from app.security import Principal
from app.services import accounts, audit
from app.services.partners import partner_today

log = structlog.get_logger("cartera.documents")

DOCUMENTS_FOLDER = "documents"


class DocumentContentMissing(RuntimeError):
    """A document's stored bytes are gone or damaged: a server fault, not a client's."""


@dataclass(frozen=True, slots=True)
class StoredContent:
    sha256: str
    size_bytes: int
    media_type: MediaType


class DocumentStore:
    """Content-addressed files under one folder: ``<root>/<sha[:2]>/<sha>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def under(cls, data_dir: Path) -> DocumentStore:
        return cls(data_dir / DOCUMENTS_FOLDER)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def put(
        self, body: AsyncIterator[bytes], declared: MediaType, *, limit: int
    ) -> StoredContent:
        """Store ``body`` as it arrives: refused (and nothing kept) when it exceeds ``limit``
        bytes, is empty, or does not start and end as ``declared`` does."""
        temp_dir = self.root / "tmp"
        await anyio.to_thread.run_sync(lambda: temp_dir.mkdir(parents=True, exist_ok=True))
        temp = temp_dir / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        head = b""
        tail = b""
        sniffed = False
        size = 0
        try:
            async with await anyio.open_file(temp, "wb") as handle:
                async for piece in body:
                    if not piece:
                        continue
                    size += len(piece)
                    if size > limit:
                        raise PayloadTooLarge({"limit": limit})
                    if not sniffed:
                        head += piece[: SNIFF_BYTES - len(head)]
                        if len(head) >= SNIFF_BYTES:
                            _check_type(declared, head)
                            sniffed = True
                    tail = (tail + piece[-TAIL_BYTES:])[-TAIL_BYTES:]
                    digest.update(piece)
                    await handle.write(piece)
                if size == 0:
                    raise InvalidInput("body", N_("the document is empty"))
                if not sniffed:
                    _check_type(declared, head)
                if not content_ends_right(declared, tail):
                    raise UnsupportedMediaType({"declared": declared.value})
                await handle.flush()
                await anyio.to_thread.run_sync(os.fsync, handle.wrapped.fileno())
            sha256 = digest.hexdigest()
            await anyio.to_thread.run_sync(self._place, temp, self.path_for(sha256))
        finally:
            await anyio.to_thread.run_sync(lambda: temp.unlink(missing_ok=True))
        return StoredContent(sha256, size, declared)

    @staticmethod
    def _place(temp: Path, target: Path) -> None:
        """Move a finished file into place with an atomic rename, so a reader never sees half
        a file. The same bytes already there are left as they are; a damaged copy (another
        size) is replaced."""
        try:
            if target.stat().st_size == temp.stat().st_size:
                # Fresh again: the sweep spares files younger than its grace period, and
                # this upload's row is not committed yet.
                os.utime(target)
                return
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)


@dataclass(frozen=True, slots=True)
class SweepResult:
    checked: int
    orphans_deleted: int
    temporary_deleted: int


SWEEP_BATCH = 1000


async def sweep_orphans(
    session: AsyncSession, store: DocumentStore, *, older_than: timedelta, now: datetime
) -> SweepResult:
    """Delete stored files no document row references and leftover temporary files, both
    only when last modified more than ``older_than`` before ``now`` (an upload in flight
    writes its file before its row commits). One query per batch of files."""
    cutoff = (now - older_than).timestamp()
    stored, temporary = await anyio.to_thread.run_sync(_old_files, store.root, cutoff)
    orphans = 0
    for start in range(0, len(stored), SWEEP_BATCH):
        batch = stored[start : start + SWEEP_BATCH]
        referenced = set(
            await session.scalars(
                select(col(AccountDocument.sha256))
                .where(col(AccountDocument.sha256).in_([p.name for p in batch]))
                .distinct()
            )
        )
        gone = [p for p in batch if p.name not in referenced]
        await anyio.to_thread.run_sync(_unlink_all, gone)
        orphans += len(gone)
    await anyio.to_thread.run_sync(_unlink_all, temporary)
    log.info("documents swept", checked=len(stored), orphans=orphans, temporary=len(temporary))
    return SweepResult(len(stored), orphans, len(temporary))


def _old_files(root: Path, cutoff: float) -> tuple[list[Path], list[Path]]:
    """Stored files (``<sha[:2]>/<sha>``) and temporary ones modified before ``cutoff``."""
    if not root.is_dir():
        return [], []
    stored = [
        path
        for folder in root.iterdir()
        if folder.is_dir() and folder.name != "tmp" and len(folder.name) == 2
        for path in folder.iterdir()
        if path.is_file() and path.name[:2] == folder.name and path.stat().st_mtime < cutoff
    ]
    temp_dir = root / "tmp"
    temporary = (
        [p for p in temp_dir.iterdir() if p.is_file() and p.stat().st_mtime < cutoff]
        if temp_dir.is_dir()
        else []
    )
    return stored, temporary


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _check_type(declared: MediaType, head: bytes) -> None:
    if not content_matches(declared, head):
        raise UnsupportedMediaType({"declared": declared.value})


# --- reading ------------------------------------------------------------------------------


def readable_documents(principal: Principal) -> SelectOfScalar[AccountDocument]:
    """Documents on the accounts the principal may see."""
    visible = accounts.readable_accounts(principal).with_only_columns(col(Account.id))
    return select(AccountDocument).where(col(AccountDocument.account_id).in_(visible))


async def get_document(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> AccountDocument:
    document = await session.scalar(
        readable_documents(principal).where(col(AccountDocument.id) == document_id)
    )
    if document is None:
        raise NotFound({"entity": "document"})
    return document


async def list_documents(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    kind: DocumentKind | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AccountDocument], str | None]:
    """An account's documents, newest first (ids are time-ordered)."""
    account = await accounts.get_account(session, principal, account_id)
    query = select(AccountDocument).where(col(AccountDocument.account_id) == account.id)
    if kind is not None:
        query = query.where(col(AccountDocument.kind) == kind.value)
    before = decode_id_cursor(cursor)
    if before is not None:
        query = query.where(col(AccountDocument.id) < before)
    rows = (
        await session.scalars(query.order_by(col(AccountDocument.id).desc()).limit(limit + 1))
    ).all()
    return split_page(rows, limit, key=lambda d: d.id)


# --- writing ------------------------------------------------------------------------------


async def upload_document(
    session: AsyncSession,
    principal: Principal,
    account_id: uuid.UUID,
    *,
    kind: DocumentKind,
    title: str | None,
    content_type: str | None,
    content_length: int | None,
    body: AsyncIterator[bytes],
    store: DocumentStore,
    limit: int,
    now: datetime | None = None,
) -> AccountDocument:
    """Store a document for an account the caller sees. The account and the declared type
    are checked before a byte is read; the size and the magic bytes while it streams."""
    if not may_upload(principal.role):
        raise PermissionDenied({"role": principal.role.value})
    account = await accounts.get_account(session, principal, account_id)
    declared = declared_media_type(content_type)
    if declared is None:
        raise UnsupportedMediaType()
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge({"limit": limit})
    stored = await store.put(body, declared, limit=limit)
    moment = now or datetime.now(UTC)
    document = AccountDocument(
        account_id=account.id,
        partner_id=account.partner_id,
        debtor_id=account.debtor_id,
        kind=kind.value,
        title=title,
        content_type=stored.media_type.value,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        uploaded_by=principal.audit_id,
        uploaded_at=moment,
    )
    session.add(document)
    await session.flush()
    await audit.record(
        session, principal, "document.uploaded", "document", document.id,
        after={
            "account_id": account.id, "kind": document.kind,
            "content_type": document.content_type, "size_bytes": document.size_bytes,
            "sha256": document.sha256,
        },
        now=moment,
    )  # fmt: skip
    return document


@dataclass(frozen=True, slots=True)
class Download:
    document: AccountDocument
    path: Path


async def download_document(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    store: DocumentStore,
    *,
    now: datetime | None = None,
) -> Download:
    """The document's stored file, once the download is on record."""
    document = await get_document(session, principal, document_id)
    path = store.path_for(document.sha256)
    try:
        size = (await anyio.Path(path).stat()).st_size
    except FileNotFoundError:
        size = -1
    if size != document.size_bytes:
        # Logged without the path's personal context: the id and the hash only.
        log.error("document content missing", document_id=str(document.id))
        raise DocumentContentMissing(str(document.id))
    await audit.record(
        session, principal, "document.downloaded", "document", document.id,
        after={"account_id": document.account_id, "sha256": document.sha256}, now=now,
    )  # fmt: skip
    return Download(document, path)


def custody_of(document: AccountDocument) -> Custody:
    return Custody(
        status=CustodyStatus(document.custody_status),
        on=document.custody_on,
        by=document.custody_by,
        note=document.custody_note,
    )


def _custody_snapshot(document: AccountDocument) -> dict[str, object]:
    return {
        "status": document.custody_status,
        "on": document.custody_on,
        "by": document.custody_by,
        "note": document.custody_note,
    }


async def record_custody(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    body: CustodyChange,
    *,
    today: date | None = None,
    now: datetime | None = None,
) -> AccountDocument:
    """Move the paper original's custody forward (403 for a role that may not record that
    step, 409 for a step that is not forward, 422 for a bad date)."""
    status = CustodyStatus(body.status)
    if not may_record_custody(principal.role, status):
        raise PermissionDenied({"role": principal.role.value, "custody": status.value})
    document = await session.scalar(
        readable_documents(principal)
        .where(col(AccountDocument.id) == document_id)
        .with_for_update(of=AccountDocument)
        .execution_options(populate_existing=True)
    )
    if document is None:
        raise NotFound({"entity": "document"})
    moment = now or datetime.now(UTC)
    if today is None:
        today = partner_today(await session.get_one(Partner, document.partner_id), moment)
    changed = change_custody(
        custody_of(document),
        status,
        on=body.on,
        by=body.by.strip(),
        note=body.note,
        role=principal.role,
        today=today,
    )
    before = _custody_snapshot(document)
    document.custody_status = changed.status.value
    document.custody_on = changed.on
    document.custody_by = changed.by
    document.custody_note = changed.note
    document.custody_recorded_by = principal.audit_id
    document.custody_recorded_at = moment
    session.add(document)
    await session.flush()
    await audit.record(
        session, principal, "document.custody_recorded", "document", document.id,
        before=before, after=_custody_snapshot(document), now=moment,
    )  # fmt: skip
    return document
