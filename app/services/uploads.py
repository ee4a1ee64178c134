"""The job machinery uploads share (assignment pushes and payment files): the body stored
in ~1 MiB chunks as it streams in, spooled back to a temporary file by the job, the job
queued in the same transaction (a procrastinate job, app/jobs/), and the upload's row as the
status the API shows (queued, processing, completed, failed).

Table names come from the :class:`Queue` constants below, never from input.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from app import locks
from app.db import Database
from app.domain.errors import IdempotencyKeyReused, PayloadTooLarge
from app.domain.uploads import UploadStatus
from app.jobs import queue as jobs_queue
from app.jobs.queue import UploadBusy
from app.services.tabular_uploads import UploadCheck

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Queue:
    table: str
    chunk_table: str
    owner_column: str
    # The procrastinate task that processes one (app/jobs/tasks.py).
    task: str


ASSIGNMENTS = Queue("assignment", "assignment_chunk", "assignment_id", "cartera.push")
PAYMENT_FILES = Queue("payment_file", "payment_file_chunk", "payment_file_id",
                      "cartera.payment_file")  # fmt: skip


class _Upload(Protocol):
    id: uuid.UUID
    status: UploadStatus
    body_sha256: str


U = TypeVar("U", bound=_Upload)


async def locked(session: AsyncSession, model: type[U], upload_id: uuid.UUID) -> U | None:
    """The upload read afresh under its row lock, held to the transaction's end: a job run
    twice (retried after its worker was taken for dead, say) sees what the other run left,
    a :data:`~app.domain.uploads.FINISHED` status among it."""
    return await session.get(model, upload_id, with_for_update=True, populate_existing=True)


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
    queue: Queue,
) -> U | None:
    """The upload ``caller`` (an audit id) already sent for this partner under ``key`` when
    the body is the same one (the body is read to compare); None when the key is new, as it
    is when only another caller used it. Another body under the key is refused. The key
    stays locked to the end of the transaction, so two requests racing with one key store
    one upload.

    An upload that failed for good (its stored body dropped) is taken again: the body sent
    now is stored while it is compared, and the upload is queued again from its first try
    (see :func:`requeue_failed`), so a partner retries it under the same key."""
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
    failed = existing.status == "failed"
    if failed:
        await store_body(session, queue, existing.id, body, check)
    else:
        async for piece in body:
            check.sha256.update(piece)
    if check.sha256.hexdigest() != existing.body_sha256:
        raise IdempotencyKeyReused()
    if failed:
        await requeue_failed(session, queue, existing.id, partner_id)
        await session.refresh(existing)
    return existing


async def requeue_failed(
    session: AsyncSession, queue: Queue, upload_id: uuid.UUID, partner_id: uuid.UUID
) -> None:
    """Put a failed upload (its body stored again) back in the queue as if just received:
    no tries, no outcome, no progress, and a new job."""
    await session.execute(
        text(
            f"UPDATE {queue.table} SET status = 'queued', attempts = 0, started_at = NULL,"
            " finished_at = NULL, failure = NULL, failure_text = NULL WHERE id = :id"
        ),
        {"id": upload_id},
    )
    await session.execute(
        text("DELETE FROM upload_progress WHERE upload_id = :id"), {"id": upload_id}
    )
    await enqueue(session, queue, upload_id, partner_id)


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


# COPY's text format: tab-separated, \N for NULL, backslash escapes; bytea as \\x<hex>.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_bytes(value: bytes) -> str:
    return "\\\\x" + value.hex()


# How a cell of each type is written; any other type (int, Decimal, date, UUID) as its str.
_COPY_CELL: dict[type, Callable[[Any], str]] = {
    str: lambda value: value.translate(_COPY_ESCAPES),
    bytes: _copy_bytes,
    bool: lambda value: "t" if value else "f",
    type(None): lambda value: "\\N",
}


def copy_line(record: Sequence[Any]) -> str:
    """One record as a line of COPY's text format (what :func:`copy_text` sends). Cells are
    None, text, bytes, booleans, or anything whose ``str`` PostgreSQL reads as the column's
    type (numbers, Decimals, dates, UUIDs)."""
    cell = _COPY_CELL.get
    return "\t".join([cell(type(value), str)(value) for value in record]) + "\n"


async def copy_text(session: AsyncSession, table: str, columns: Sequence[str], data: bytes) -> None:
    """COPY lines already in COPY's text format (:func:`copy_line`, UTF-8) into ``table``:
    the rows were encoded elsewhere (a validation worker), this process only passes them on."""
    if not data:
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_to_table(table, source=memoryview(data), columns=list(columns), format="text")


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


async def enqueue(
    session: AsyncSession, queue: Queue, upload_id: uuid.UUID, partner_id: uuid.UUID
) -> int:
    """Queue the upload's job in the caller's transaction (they commit together). A
    partner's uploads of one kind share a lock, so they are processed one at a time, in the
    order they were queued, whatever the number of workers."""
    return await jobs_queue.defer(
        session, queue.task, {"upload_id": str(upload_id)}, lock=f"{queue.table}:{partner_id}"
    )  # fmt: skip


def _lost_sql(queue: Queue) -> str:
    return f"""
SELECT u.id, u.partner_id FROM {queue.table} u
WHERE u.status IN ('queued', 'processing')
  AND u.submitted_at < clock_timestamp() - CAST(:waited AS interval)
  AND NOT EXISTS (
      SELECT 1 FROM procrastinate_jobs j
      WHERE j.task_name = '{queue.task}' AND j.status IN ('todo', 'doing')
        AND j.args ->> 'upload_id' = CAST(u.id AS text)
  )
ORDER BY u.submitted_at
FOR UPDATE OF u SKIP LOCKED
"""


async def requeue_lost(session: AsyncSession, queue: Queue, waited: timedelta) -> list[uuid.UUID]:
    """Queue a job again for every upload that has ``waited`` (by the database's clock, so
    machines whose clocks differ agree) and is still waiting or being
    processed with no job to do it (one queued before jobs moved to procrastinate, or whose
    job ended without recording the outcome); their ids."""
    rows = (await session.execute(text(_lost_sql(queue)), {"waited": waited})).all()
    for upload_id, partner_id in rows:
        await enqueue(session, queue, upload_id, partner_id)
    return [row[0] for row in rows]


async def start(
    database: Database, queue: Queue, upload_id: uuid.UUID, now: datetime
) -> int | None:
    """Mark the upload taken by the job that is about to process it: how many times it has
    been taken, or None when it is already done with. The job then processes it in a
    transaction of its own holding the row lock; while another worker holds that lock, this
    raises :class:`UploadBusy` (the job tries again later).

    The mark is one statement in autocommit (one round trip on every job, where a
    transaction around it cost three), and commits without waiting for the WAL flush:
    should PostgreSQL crash right after, the upload is found queued and taken again, one try
    less counted. (``set_config(…, true)`` is ``SET LOCAL`` for the statement's own
    transaction, still in force when it commits.)"""
    async with database.autocommit() as connection:
        attempts = await connection.scalar(
            text(
                f"UPDATE {queue.table} SET status = 'processing', started_at = :now,"
                " attempts = attempts + 1"
                f" WHERE id = (SELECT id FROM {queue.table} WHERE id = :id"
                "              AND status IN ('queued', 'processing') FOR UPDATE SKIP LOCKED)"
                " RETURNING attempts, set_config('synchronous_commit', 'off', true)"
            ),
            {"id": upload_id, "now": now},
        )
        if attempts is not None:
            return int(attempts)
        status = await connection.scalar(
            text(f"SELECT status FROM {queue.table} WHERE id = :id"), {"id": upload_id}
        )
    if status in ("queued", "processing"):
        raise UploadBusy(str(upload_id))
    return None


# ---------------------------------------------------------------------------------------
# Progress

_PROGRESS = """
INSERT INTO upload_progress (upload_id, rows_done, rows_total, updated_at)
VALUES (:id, :done, :total, clock_timestamp())
ON CONFLICT (upload_id) DO UPDATE
SET rows_done = EXCLUDED.rows_done, rows_total = EXCLUDED.rows_total,
    updated_at = EXCLUDED.updated_at
"""


ProgressCallback = Callable[[int, int | None], Awaitable[None]]


class Progress:
    """What a job tells its :data:`ProgressCallback`: the total once known, rows as done."""

    def __init__(self, write: ProgressCallback | None) -> None:
        self.write = write
        self.total: int | None = None

    @property
    def wanted(self) -> bool:
        return self.write is not None

    async def start(self, total: int | None) -> None:
        self.total = total
        if self.write is not None:
            await self.write(0, total)

    async def done(self, rows: int) -> None:
        if self.write is not None:
            await self.write(rows, self.total)


class ProgressWriter:
    """Writes an upload's progress on a connection of its own, committed at once.

    The job's transaction holds the upload's row lock to its end and commits all or nothing,
    so progress cannot go into the upload's row (it would wait for that lock, or show only
    at the end): it goes to ``upload_progress``, which readers join. A job that fails or is
    rolled back leaves its last figures there; the upload's status says what happened."""

    def __init__(self, database: Database, upload_id: uuid.UUID) -> None:
        self.database = database
        self.upload_id = upload_id

    async def __call__(self, rows_done: int, rows_total: int | None) -> None:
        async with self.database.autocommit() as connection:
            await connection.execute(
                text(_PROGRESS), {"id": self.upload_id, "done": rows_done, "total": rows_total}
            )


async def read_progress(session: AsyncSession, upload_id: uuid.UUID) -> tuple[int, int | None]:
    """(rows done, rows in the upload or None while unknown) of an upload being processed."""
    row = (
        await session.execute(
            text("SELECT rows_done, rows_total FROM upload_progress WHERE upload_id = :id"),
            {"id": upload_id},
        )
    ).first()
    return (0, None) if row is None else (int(row[0]), None if row[1] is None else int(row[1]))


_DONE = ("completed", "completed_with_errors")


async def progress_of(session: AsyncSession, items: Sequence[Any]) -> dict[uuid.UUID, Any]:
    """(rows done, rows in the upload or None while unknown) per upload (pushes or payment
    files, with ``id``, ``status`` and ``received``), in one query: a finished upload has
    done all it received; one being processed (or failed) shows what the job last wrote."""
    found: dict[uuid.UUID, Any] = {}
    ask = [u.id for u in items if u.status not in _DONE and u.status != "queued"]
    if ask:
        rows = await session.execute(
            text(
                "SELECT upload_id, rows_done, rows_total FROM upload_progress"
                " WHERE upload_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ask},
        )
        found = {r[0]: (int(r[1]), None if r[2] is None else int(r[2])) for r in rows}
    return {
        u.id: (u.received, u.received) if u.status in _DONE else found.get(u.id, (0, None))
        for u in items
    }
