"""The job machinery uploads share (assignment pushes and payment files): the body stored
in ~1 MiB chunks as it streams in, spooled back to a temporary file by the job, and the
queue — the upload's own table, claimed with ``FOR UPDATE SKIP LOCKED``.

Table names come from the :class:`Queue` constants below, never from input.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from app import locks
from app.domain.errors import IdempotencyKeyReused, PayloadTooLarge
from app.services.assignment_files import UploadCheck

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Queue:
    table: str
    chunk_table: str
    owner_column: str


ASSIGNMENTS = Queue("assignment", "assignment_chunk", "assignment_id")
PAYMENT_FILES = Queue("payment_file", "payment_file_chunk", "payment_file_id")


class _Upload(Protocol):
    body_sha256: str


U = TypeVar("U", bound=_Upload)


async def find_replay(
    session: AsyncSession,
    model: type[U],
    partner_id: uuid.UUID,
    caller: str,
    key: str,
    body: AsyncIterator[bytes],
    check: UploadCheck,
    *,
    lock_kind: locks.LockClass,
) -> U | None:
    """The upload ``caller`` (an audit id) already sent for this partner under ``key`` when
    the body is the same one (the body is read to compare); None when the key is new, as it
    is when only another caller used it. Another body under the key is refused. The key
    stays locked to the end of the transaction, so two requests racing with one key store
    one upload."""
    await locks.hold(session, lock_kind, f"{partner_id}:{caller}:{key}")
    table: Any = model
    existing: U | None = await session.scalar(
        select(table).where(
            table.partner_id == partner_id,
            table.submitted_by == caller,
            table.idempotency_key == key,
        )
    )
    if existing is None:
        return None
    async for piece in body:
        check.sha256.update(piece)
    if check.sha256.hexdigest() != existing.body_sha256:
        raise IdempotencyKeyReused()
    return existing


async def copy_records(
    session: AsyncSession, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    """COPY ``records`` into ``table``: the set-based way rows go in."""
    if not records:
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table, records=records, columns=list(columns))


async def store_body(
    session: AsyncSession,
    queue: Queue,
    owner_id: uuid.UUID,
    body: AsyncIterator[bytes],
    check: UploadCheck,
    *,
    keep_up_to: int | None = None,
) -> bytes | None:
    """Store the body as it arrives, checking it on the way. With ``keep_up_to``, the whole
    body is also returned (for a JSON push, parsed before it is accepted) and a larger one is
    refused."""
    insert = text(
        f"INSERT INTO {queue.chunk_table} ({queue.owner_column}, seq, data) "
        "VALUES (:owner, :seq, :data)"
    )
    pending = bytearray()
    kept = bytearray() if keep_up_to is not None else None
    seq = 0
    try:
        async for piece in body:
            check.feed(piece)
            if kept is not None:
                assert keep_up_to is not None
                if check.size > keep_up_to:
                    raise PayloadTooLarge({"limit": keep_up_to})
                kept.extend(piece)
            pending.extend(piece)
            if len(pending) >= CHUNK_BYTES:
                data = bytes(pending)
                await session.execute(insert, {"owner": owner_id, "seq": seq, "data": data})
                seq += 1
                pending.clear()
        # A workbook is checked whole (every part expanded and counted): off the event loop.
        await anyio.to_thread.run_sync(check.finish)
    finally:
        check.close()
    if pending:
        await session.execute(insert, {"owner": owner_id, "seq": seq, "data": bytes(pending)})
    return None if kept is None else bytes(kept)


async def spool(session: AsyncSession, queue: Queue, owner_id: uuid.UUID, path: Path) -> None:
    """Write the stored body to ``path``, a chunk at a time."""
    read = text(
        f"SELECT data FROM {queue.chunk_table} WHERE {queue.owner_column} = :owner AND seq = :seq"
    )
    seq = 0
    async with await anyio.open_file(path, "wb") as handle:
        while True:
            data = await session.scalar(read, {"owner": owner_id, "seq": seq})
            if data is None:
                return
            await handle.write(data)
            seq += 1


async def drop_body(session: AsyncSession, queue: Queue, owner_id: uuid.UUID) -> None:
    """The stored body is not needed once the job has done with it."""
    await session.execute(
        text(f"DELETE FROM {queue.chunk_table} WHERE {queue.owner_column} = :owner"),
        {"owner": owner_id},
    )


def _claim_sql(queue: Queue) -> str:
    return f"""
UPDATE {queue.table}
SET status = 'processing', started_at = :now, attempts = attempts + 1
WHERE id = (
    SELECT id FROM {queue.table} p
    WHERE (status = 'queued' OR (status = 'processing' AND started_at < :stale_before))
      -- a partner's uploads apply in the order they were sent, whatever the worker count
      AND NOT EXISTS (
          SELECT 1 FROM {queue.table} o
          WHERE o.partner_id = p.partner_id AND o.submitted_at < p.submitted_at
            AND o.status IN ('queued', 'processing')
      )
    ORDER BY submitted_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, attempts
"""


async def claim(
    session: AsyncSession, queue: Queue, now: datetime, stale_before: datetime
) -> tuple[uuid.UUID, int] | None:
    """Take the oldest queued upload (or one whose worker died: its row is no longer locked
    and it started long ago): its id and how many times it was taken. The caller commits,
    then processes it in a new transaction that holds the row lock, so a live worker's
    upload is never taken over."""
    row = (
        await session.execute(text(_claim_sql(queue)), {"now": now, "stale_before": stale_before})
    ).first()
    if row is None:
        return None
    return uuid.UUID(str(row[0])), int(row[1])
