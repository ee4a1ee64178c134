"""The job worker: processes queued assignment pushes and payment files, delivers events to
partners (webhooks), and runs the nightly aging (with the promise and plan follow-ups and
the purge of ended staff sessions).

The queue is the ``assignment`` table itself, claimed with ``FOR UPDATE SKIP LOCKED``, so
any number of workers (``cartera worker`` processes, or the one inside ``cartera serve`` with
the embedded database) share it safely. Each push is processed in its own transaction that
holds the push's row lock; if the worker dies, the lock goes with its connection and another
worker takes the push over.

Webhook deliveries are a queue of their own (``webhook_delivery``), claimed the same way by
:func:`app.services.webhooks.deliver_next`; each turn of the loop delivers what is due
(at most :data:`DELIVERIES_PER_TURN`) besides one push or payment file.

While a push or a payment file is processed, its progress (rows done, rows in the upload)
is written by :class:`ProgressWriter` on a connection of its own and committed per chunk,
so ``GET /assignments/{id}`` shows it; the push itself stays one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, get_settings
from app.db import Database
from app.services import (
    aging,
    assignments,
    auth,
    payment_files,
    plans,
    promises,
    refresh_tokens,
    uploads,
    webhooks,
)
from app.services.workbooks import DEFAULT_LIMITS, WorkbookLimits

log = structlog.get_logger("cartera.worker")

# A push claimed but not locked for this long lost its worker between the two steps.
CLAIM_GRACE = timedelta(minutes=1)
# Deliveries attempted per turn of the loop before it looks at the other queues again.
DELIVERIES_PER_TURN = 50


@dataclass(frozen=True, slots=True)
class _Job:
    """One kind of queued upload: how to claim one, process it and mark it failed."""

    name: str
    claim: Callable[[AsyncSession, datetime, datetime], Awaitable[uuid.UUID | None]]
    # (session, id, workbook_limits=…): the same bounds the upload was checked against.
    process: Callable[..., Awaitable[Any]]
    mark_failed: Callable[[AsyncSession, uuid.UUID, Exception], Awaitable[None]]


_JOBS = (
    _Job("assignment", assignments.claim_next, assignments.process_assignment,
         assignments.mark_failed),
    _Job("payment_file", payment_files.claim_next, payment_files.process_file,
         payment_files.mark_failed),
)  # fmt: skip


async def process_next(
    database: Database, workbook_limits: WorkbookLimits = DEFAULT_LIMITS
) -> uuid.UUID | None:
    """Claim and process one queued push, or else one queued payment file; its id, or None
    when both queues are empty."""
    for job in _JOBS:
        done = await _run_one(database, job, workbook_limits)
        if done is not None:
            return done
    return None


async def _run_one(
    database: Database, job: _Job, workbook_limits: WorkbookLimits
) -> uuid.UUID | None:
    now = datetime.now(UTC)
    async with database.sessionmaker() as session, session.begin():
        claimed = await job.claim(session, now, now - CLAIM_GRACE)
    if claimed is None:
        return None
    try:
        async with database.sessionmaker() as session, session.begin():
            done = await job.process(
                session,
                claimed,
                workbook_limits=workbook_limits,
                progress=uploads.ProgressWriter(database, claimed),
            )
        log.info(f"{job.name} processed", id=str(claimed), status=done.status,
                 received=done.received)  # fmt: skip
    except Exception as exc:
        log.exception(f"{job.name} failed", id=str(claimed))
        async with database.sessionmaker() as session, session.begin():
            await job.mark_failed(session, claimed, exc)
    return claimed


async def age_if_due(database: Database, zone: str) -> bool:
    """Run aging and the promise follow-up for today's business date once (the nightly
    run); True when it ran."""
    today = datetime.now(ZoneInfo(zone)).date()
    async with database.sessionmaker() as session, session.begin():
        # Checked under the aging lock, so workers waking together run it once.
        await aging.take_aging_lock(session)
        done = await session.scalar(text("SELECT 1 FROM aging_run WHERE as_of = :d"), {"d": today})
        if done:
            return False
        result = await aging.age_accounts(session, today)
        # Promises due by the new day are resolved with it (kept, partially kept, broken).
        await promises.follow_up(session, today)
        await plans.follow_up_plans(session, today)
        sessions_purged = await refresh_tokens.purge(session, datetime.now(UTC))
        await auth.purge_login_attempts(session, get_settings(), datetime.now(UTC))
    log.info(
        "aging run",
        as_of=today.isoformat(),
        accounts_aged=result.accounts_aged,
        stage_changes=result.stage_changes,
        sessions_purged=sessions_purged,
    )
    return True


async def run_worker(
    database: Database,
    *,
    stop: anyio.Event | None = None,
    poll_seconds: float = 1.0,
    aging_zone: str = "America/Mexico_City",
    workbook_limits: WorkbookLimits = DEFAULT_LIMITS,
    settings: Settings | None = None,
) -> None:
    """Work until ``stop`` is set: due webhook deliveries and a push, then aging when the
    day has turned."""
    stop = stop or anyio.Event()
    settings = settings or get_settings()
    while not stop.is_set():
        try:
            delivered = await webhooks.deliver_due(database, settings, at_most=DELIVERIES_PER_TURN)
            pushed = await process_next(database, workbook_limits) is not None
            aged = False if pushed else await age_if_due(database, aging_zone)
            worked = pushed or aged or delivered > 0
        except Exception:
            # The database may be restarting; wait and try again rather than die.
            log.exception("worker step failed")
            worked = False
        if not worked:
            with anyio.move_on_after(poll_seconds):
                await stop.wait()
