"""The job worker: processes queued assignment pushes and runs the nightly aging.

The queue is the ``assignment`` table itself, claimed with ``FOR UPDATE SKIP LOCKED``, so
any number of workers (``cartera worker`` processes, or the one inside ``cartera serve`` with
the embedded database) share it safely. Each push is processed in its own transaction that
holds the push's row lock; if the worker dies, the lock goes with its connection and another
worker takes the push over.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import structlog
from sqlalchemy import text

from app.db import Database
from app.services import aging, assignments, plans, promises

log = structlog.get_logger("cartera.worker")

# A push claimed but not locked for this long lost its worker between the two steps.
CLAIM_GRACE = timedelta(minutes=1)


async def process_next(database: Database) -> uuid.UUID | None:
    """Claim and process one queued push; its id, or None when the queue is empty."""
    now = datetime.now(UTC)
    async with database.sessionmaker() as session, session.begin():
        claimed = await assignments.claim_next(session, now, now - CLAIM_GRACE)
    if claimed is None:
        return None
    try:
        async with database.sessionmaker() as session, session.begin():
            done = await assignments.process_assignment(session, claimed)
        log.info(
            "assignment processed",
            assignment_id=str(claimed),
            status=done.status,
            received=done.received,
            rejected=done.rejected,
        )
    except Exception as exc:
        log.exception("assignment failed", assignment_id=str(claimed))
        async with database.sessionmaker() as session, session.begin():
            await assignments.mark_failed(session, claimed, exc)
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
    log.info(
        "aging run",
        as_of=today.isoformat(),
        accounts_aged=result.accounts_aged,
        stage_changes=result.stage_changes,
    )
    return True


async def run_worker(
    database: Database,
    *,
    stop: anyio.Event | None = None,
    poll_seconds: float = 1.0,
    aging_zone: str = "America/Mexico_City",
) -> None:
    """Work until ``stop`` is set: pushes first, then aging when the day has turned."""
    stop = stop or anyio.Event()
    while not stop.is_set():
        try:
            worked = await process_next(database) is not None
            if not worked:
                worked = await age_if_due(database, aging_zone)
        except Exception:
            # The database may be restarting; wait and try again rather than die.
            log.exception("worker step failed")
            worked = False
        if not worked:
            with anyio.move_on_after(poll_seconds):
                await stop.wait()
