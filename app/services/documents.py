"""Account documents: upload, list, read, download (audited) and the custody of the paper
original.

Choices made here:

- Documents are seen through their account (:func:`app.services.accounts.readable_accounts`):
  a document on an account the caller may not see is a 404. Every role that sees the
  account may upload to it except the auditor, who only reads (403).
- The bytes are sealed and kept in PostgreSQL (:mod:`app.models.document`), never on disk:
  the upload is read from the request as it streams in and checked on the way (size limit,
  magic bytes of the declared type, and how it ends: the last KiB is kept while streaming
  for that); every :data:`~app.domain.documents.CHUNK_BYTES` are sealed (the purpose,
  blob, place and "last" bound in) and inserted in the request's transaction. A refused
  upload rolls back with its request, so nothing of it is kept; no temporary file is
  written, and at most a chunk and a piece of the request are in memory.
- The same bytes uploaded again to one partner's accounts are stored once. The hash is
  known only at the end, so an upload's chunks are written as they arrive; when the
  partner already holds a blob with that SHA-256 they are deleted again and the document
  reads that blob (which is checked first: a damaged one is healed with the new copy).
  Dedup stops at the partner: a blob shared across creditors would tell, to a database
  reader or by an upload's timing, that another creditor holds the same file.
- A download is checked before a byte is sent: every chunk is opened and the whole hashed
  against the document's SHA-256. A chunk altered, moved, missing or cut short is logged
  as ``document integrity failed`` (document and blob ids, the chunk; never content) and
  answered 500 with no download on record: it is the server's fault, not the client's, and
  nothing better can be sent. The bytes are then streamed a chunk at a time, each read in
  a short transaction of its own (a slow client holds no connection), opened and hashed
  again; a difference then (only a change between the two reads could cause one) ends the
  response short of its Content-Length.
- :func:`sweep_orphans` (``cartera jobs documents-sweep``) deletes blobs no document
  references, with their chunks, and the files the data folder held before documents
  moved into the database (migration 0d5ea1edb10b sealed them in and left them).
- Every upload, custody step and download is recorded with :func:`app.services.audit.record`
  (``document.uploaded``, ``document.custody_recorded``, ``document.downloaded``).
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import anyio.to_thread
import structlog
from sqlalchemy import Select, text, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app import vault
from app.domain.crypto import SealedBytes, SealError, Vault
from app.domain.documents import (
    CHUNK_BYTES,
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
    open_chunk,
    seal_chunk,
)
from app.domain.errors import (
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
)
from app.domain.roles import Role
from app.i18n import N_
from app.ids import new_id
from app.models.account import Account
from app.models.document import AccountDocument, DocumentBlob
from app.models.partner import Partner
from app.pagination import decode_id_cursor, split_page
from app.schemas.documents import CustodyChange
from app.security import Principal
from app.services import accounts, audit
from app.services.partners import partner_today

log = structlog.get_logger("cartera.documents")

# Where documents were kept on disk before they moved into the database.
LEGACY_FOLDER = "documents"


class DocumentIntegrityError(RuntimeError):
    """A document's stored bytes are missing, altered or not its own: a server fault, never
    a client's."""


@dataclass(frozen=True, slots=True)
class BlobRef:
    """What is needed to read a blob back: its id, and what its bytes must be."""

    id: uuid.UUID
    sha256: str
    size_bytes: int
    chunks: int


@dataclass(frozen=True, slots=True)
class StoredContent:
    blob_id: uuid.UUID
    sha256: str
    size_bytes: int
    media_type: MediaType


# --- the sealed chunks ----------------------------------------------------------------------

_INSERT_CHUNK = text(
    "INSERT INTO document_blob_chunk (blob_id, seq, key_id, nonce, ciphertext) "
    "VALUES (:blob_id, :seq, :key_id, :nonce, :ciphertext)"
)
_READ_CHUNK = text(
    "SELECT key_id, nonce, ciphertext FROM document_blob_chunk "
    "WHERE blob_id = :blob_id AND seq = :seq"
)
_DROP_CHUNKS = text("DELETE FROM document_blob_chunk WHERE blob_id = :blob_id")

ReadChunk = Callable[[uuid.UUID, int], Awaitable[SealedBytes | None]]


async def _put_chunk(
    session: AsyncSession, sealer: Vault, blob_id: uuid.UUID, seq: int, piece: bytes, *,
    final: bool,
) -> None:  # fmt: skip
    sealed = seal_chunk(sealer, blob_id, seq, piece, final=final)
    await session.execute(
        _INSERT_CHUNK,
        {"blob_id": blob_id, "seq": seq, "key_id": sealed.key_id, "nonce": sealed.nonce,
         "ciphertext": sealed.ciphertext},
    )  # fmt: skip


async def _read_chunk(session: AsyncSession, blob_id: uuid.UUID, seq: int) -> SealedBytes | None:
    row = (await session.execute(_READ_CHUNK, {"blob_id": blob_id, "seq": seq})).first()
    return None if row is None else SealedBytes(int(row[0]), bytes(row[1]), bytes(row[2]))


def _integrity_failure(
    blob: BlobRef, seq: int | None, reason: str, document_id: uuid.UUID | None
) -> DocumentIntegrityError:
    # Ids and the chunk's place only: the content is personal data.
    log.error(
        "document integrity failed",
        document_id=None if document_id is None else str(document_id),
        blob_id=str(blob.id),
        seq=seq,
        reason=reason,
    )
    return DocumentIntegrityError(f"document blob {blob.id}: {reason}")


async def _plaintext(
    blob: BlobRef, read: ReadChunk, sealer: Vault, *, document_id: uuid.UUID | None = None
) -> AsyncIterator[bytes]:
    """The blob's bytes a chunk at a time, each opened in its place; DocumentIntegrityError
    (logged) at the first chunk that is missing or does not open, or at the end when the
    whole is not the size and SHA-256 the blob names."""
    digest = hashlib.sha256()
    size = 0
    for seq in range(blob.chunks):
        sealed = await read(blob.id, seq)
        if sealed is None:
            raise _integrity_failure(blob, seq, "chunk missing", document_id)
        try:
            piece = open_chunk(sealer, blob.id, seq, sealed, final=seq == blob.chunks - 1)
        except SealError:
            raise _integrity_failure(blob, seq, "chunk does not open", document_id) from None
        digest.update(piece)
        size += len(piece)
        yield piece
    if size != blob.size_bytes or digest.hexdigest() != blob.sha256:
        raise _integrity_failure(blob, None, "not the size or SHA-256 on record", document_id)


async def _verify(
    session: AsyncSession, blob: BlobRef, sealer: Vault, *, document_id: uuid.UUID | None = None
) -> None:
    """Open every chunk of the blob and check the whole, keeping nothing."""

    async def read(blob_id: uuid.UUID, seq: int) -> SealedBytes | None:
        return await _read_chunk(session, blob_id, seq)

    async for _piece in _plaintext(blob, read, sealer, document_id=document_id):
        pass


# --- storing --------------------------------------------------------------------------------


async def store_content(
    session: AsyncSession,
    partner_id: uuid.UUID,
    body: AsyncIterator[bytes],
    declared: MediaType,
    *,
    limit: int,
    sealer: Vault | None = None,
) -> StoredContent:
    """Seal ``body`` into the partner's blobs as it arrives: refused (and, with the request's
    transaction, nothing kept) when it exceeds ``limit`` bytes, is empty, or does not start
    and end as ``declared`` does."""
    sealer = sealer or vault.current()
    blob_id = new_id()
    digest = hashlib.sha256()
    head = b""
    tail = b""
    sniffed = False
    size = 0
    seq = 0
    pending = bytearray()
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
        pending.extend(piece)
        # A full chunk is sealed once more bytes follow it: only then is it known not to be
        # the last one.
        while len(pending) > CHUNK_BYTES:
            await _put_chunk(
                session, sealer, blob_id, seq, bytes(pending[:CHUNK_BYTES]), final=False
            )
            del pending[:CHUNK_BYTES]
            seq += 1
    if size == 0:
        raise InvalidInput("body", N_("the document is empty"))
    if not sniffed:
        _check_type(declared, head)
    if not content_ends_right(declared, tail):
        raise UnsupportedMediaType({"declared": declared.value})
    await _put_chunk(session, sealer, blob_id, seq, bytes(pending), final=True)
    fresh = BlobRef(blob_id, digest.hexdigest(), size, seq + 1)
    kept = await _keep_once(session, partner_id, fresh, sealer)
    return StoredContent(kept, fresh.sha256, size, declared)


async def _keep_once(
    session: AsyncSession, partner_id: uuid.UUID, fresh: BlobRef, sealer: Vault
) -> uuid.UUID:
    """The blob the partner's document with these bytes reads: ``fresh`` when the partner
    has no blob with its SHA-256 yet, else the one it has (``fresh``'s chunks are dropped).

    Two uploads of the same bytes at once: the second one's insert waits for the first and
    then finds its blob. The blob found is locked (``FOR KEY SHARE``) until the transaction
    ends, so the sweep, which skips locked blobs, cannot take it meanwhile; if the sweep
    took it first, it is gone and ``fresh`` is stored after all."""
    for _attempt in range(3):
        inserted = await session.scalar(
            pg_insert(DocumentBlob)
            .values(
                id=fresh.id,
                partner_id=partner_id,
                sha256=fresh.sha256,
                size_bytes=fresh.size_bytes,
                chunks=fresh.chunks,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["partner_id", "sha256"])
            .returning(col(DocumentBlob.id))
        )
        if inserted is not None:
            return fresh.id
        existing = (
            await session.execute(
                _blob_query()
                .where(
                    col(DocumentBlob.partner_id) == partner_id,
                    col(DocumentBlob.sha256) == fresh.sha256,
                )
                .with_for_update(read=True, key_share=True)
            )
        ).first()
        if existing is None:
            continue
        kept = BlobRef(existing[0], existing[1], existing[2], existing[3])
        try:
            await _verify(session, kept, sealer)
        except DocumentIntegrityError:
            await _heal(session, kept, fresh, sealer)
        await session.execute(_DROP_CHUNKS, {"blob_id": fresh.id})
        return kept.id
    raise RuntimeError("the document's bytes could not be stored; retry")


async def _heal(session: AsyncSession, damaged: BlobRef, fresh: BlobRef, sealer: Vault) -> None:
    """Replace a damaged blob's chunks with ``fresh``'s bytes (the same SHA-256), re-sealed
    for the damaged blob's id, so every document reading it reads right again."""
    await session.execute(
        select(col(DocumentBlob.id))
        .where(col(DocumentBlob.id) == damaged.id)
        .with_for_update(key_share=True)
    )
    try:  # another upload may have healed it while this one waited for the lock
        await _verify(session, damaged, sealer)
        return
    except DocumentIntegrityError:
        pass
    await session.execute(_DROP_CHUNKS, {"blob_id": damaged.id})
    for seq in range(fresh.chunks):
        sealed = await _read_chunk(session, fresh.id, seq)
        assert sealed is not None  # written by this transaction
        final = seq == fresh.chunks - 1
        piece = open_chunk(sealer, fresh.id, seq, sealed, final=final)
        await _put_chunk(session, sealer, damaged.id, seq, piece, final=final)
    await session.execute(
        update(DocumentBlob)
        .where(col(DocumentBlob.id) == damaged.id)
        .values(size_bytes=fresh.size_bytes, chunks=fresh.chunks)
    )
    log.warning("document content healed", blob_id=str(damaged.id))


def _blob_query() -> Select[uuid.UUID, str, int, int]:
    return core_select(
        col(DocumentBlob.id),
        col(DocumentBlob.sha256),
        col(DocumentBlob.size_bytes),
        col(DocumentBlob.chunks),
    )


def _check_type(declared: MediaType, head: bytes) -> None:
    if not content_matches(declared, head):
        raise UnsupportedMediaType({"declared": declared.value})


# --- sweeping -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepResult:
    blobs_deleted: int
    chunks_deleted: int
    legacy_files_deleted: int


SWEEP_BATCH = 1000

# Unreferenced blobs, locked; a blob an upload is reusing is locked by it and skipped.
_DOOMED_BLOBS = text(
    "SELECT b.id FROM document_blob b WHERE b.created_at < :cutoff AND NOT EXISTS "
    "(SELECT 1 FROM account_document d WHERE d.blob_id = b.id) "
    "ORDER BY b.id LIMIT :batch FOR UPDATE SKIP LOCKED"
)


async def sweep_orphans(
    session: AsyncSession, data_dir: Path, *, older_than: timedelta, now: datetime
) -> SweepResult:
    """Delete the blobs (and their chunks) no document reads, created more than
    ``older_than`` before ``now``, a batch per statement; and the files of the data folder's
    old document layout (``documents/<sha[:2]>/<sha>``, ``documents/tmp``) last modified
    before then. Those files are no longer read: since migration 0d5ea1edb10b every
    document reads a blob (``blob_id`` is NOT NULL)."""
    cutoff = now - older_than
    blobs = chunks = 0
    while True:
        doomed = list(
            await session.scalars(_DOOMED_BLOBS, {"cutoff": cutoff, "batch": SWEEP_BATCH})
        )
        if doomed:
            dropped = await session.execute(
                text("DELETE FROM document_blob_chunk WHERE blob_id = ANY(:ids)"), {"ids": doomed}
            )
            chunks += dropped.rowcount  # type: ignore[attr-defined]
            await session.execute(
                text("DELETE FROM document_blob WHERE id = ANY(:ids)"), {"ids": doomed}
            )
            blobs += len(doomed)
        if len(doomed) < SWEEP_BATCH:
            break
    legacy = await anyio.to_thread.run_sync(
        _delete_legacy_files, data_dir / LEGACY_FOLDER, cutoff.timestamp()
    )
    log.info("documents swept", blobs=blobs, chunks=chunks, legacy_files=legacy)
    return SweepResult(blobs, chunks, legacy)


def _delete_legacy_files(root: Path, cutoff: float) -> int:
    """Delete the old layout's files modified before ``cutoff``, then its empty folders."""
    if not root.is_dir():
        return 0
    deleted = 0
    folders = [f for f in root.iterdir() if f.is_dir() and (len(f.name) == 2 or f.name == "tmp")]
    for folder in folders:
        for path in folder.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                deleted += 1
    for folder in [*folders, root]:
        with contextlib.suppress(OSError):  # not empty (or already gone)
            folder.rmdir()
    return deleted


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


async def search_documents(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    *,
    custody: CustodyStatus | None,
    holder_id: uuid.UUID | None,
    kind: DocumentKind | None,
    limit: int,
    cursor: str | None,
) -> accounts.LabelledPage[AccountDocument]:
    """Documents across the accounts the caller may see, newest first: the originals still
    in the field are ``custody=with_collector`` (``holder_id``: one collector's)."""
    query = select(AccountDocument).where(
        col(AccountDocument.account_id).in_(accounts.scoped_account_ids(principal, scope))
    )
    if custody is not None:
        query = query.where(col(AccountDocument.custody_status) == custody.value)
    if holder_id is not None:
        query = query.where(col(AccountDocument.custody_holder_id) == holder_id)
    if kind is not None:
        query = query.where(col(AccountDocument.kind) == kind.value)
    before = decode_id_cursor(cursor)
    if before is not None:
        query = query.where(col(AccountDocument.id) < before)
    rows = (
        await session.scalars(query.order_by(col(AccountDocument.id).desc()).limit(limit + 1))
    ).all()
    page, next_cursor = split_page(rows, limit, key=lambda d: d.id)
    return await accounts.labelled_page(session, page, next_cursor, lambda d: d.account_id)


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
    stored = await store_content(session, account.partner_id, body, declared, limit=limit)
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
        blob_id=stored.blob_id,
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
    blob: BlobRef


async def download_document(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> Download:
    """The document and its blob, checked whole (every chunk opened, the bytes hashed) and
    the download on record; :func:`document_content` then streams the bytes. A check that
    fails raises DocumentIntegrityError (logged; nothing recorded)."""
    document = await get_document(session, principal, document_id)
    found = (
        await session.execute(_blob_query().where(col(DocumentBlob.id) == document.blob_id))
    ).first()
    blob = None if found is None else BlobRef(found[0], found[1], found[2], found[3])
    if blob is None or (blob.sha256, blob.size_bytes) != (document.sha256, document.size_bytes):
        raise _integrity_failure(
            blob or BlobRef(document.blob_id, document.sha256, document.size_bytes, 0),
            None,
            "blob missing or not the document's bytes",
            document.id,
        )
    await _verify(session, blob, vault.current(), document_id=document.id)
    await audit.record(
        session, principal, "document.downloaded", "document", document.id,
        after={"account_id": document.account_id, "sha256": document.sha256}, now=now,
    )  # fmt: skip
    return Download(document, blob)


async def document_content(
    sessions: async_sessionmaker[AsyncSession], download: Download
) -> AsyncIterator[bytes]:
    """The document's bytes, a chunk at a time, each read in a short session of its own
    (a download outlives the request's transaction, and a slow client must not hold a
    connection), opened and hashed again as they go."""
    sealer = vault.current()

    async def read(blob_id: uuid.UUID, seq: int) -> SealedBytes | None:
        async with sessions() as session:
            return await _read_chunk(session, blob_id, seq)

    async for piece in _plaintext(download.blob, read, sealer, document_id=download.document.id):
        yield piece


def custody_of(document: AccountDocument) -> Custody:
    return Custody(
        status=document.custody_status,
        on=document.custody_on,
        by=document.custody_by,
        note=document.custody_note,
    )


def _custody_snapshot(document: AccountDocument) -> dict[str, object]:
    return {
        "status": document.custody_status,
        "holder_id": document.custody_holder_id,
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
    if changed.status is CustodyStatus.WITH_COLLECTOR:
        # The collector who took it; recorded by the office: the account's collector.
        document.custody_holder_id = (
            principal.user_id
            if principal.role is Role.COLLECTOR
            else await session.scalar(
                select(Account.assigned_collector_id).where(col(Account.id) == document.account_id)
            )
        )
    else:
        document.custody_holder_id = None
    document.custody_status = changed.status
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
