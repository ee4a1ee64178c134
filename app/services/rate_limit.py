"""Rate limits that hold across every API process and machine: the events a limit admitted
are rows of ``rate_limit_hit`` in PostgreSQL, and :func:`app.domain.rate_limit.admit` decides
over a key's rows in the window, read under an advisory lock on the key (two processes cannot
both take its last slot).

Time is the database's clock (``clock_timestamp()``), one clock for every process whatever
the machines' own clocks say. Each admitted event is committed in a transaction of its own
(:func:`take_slot`), before the request's work, so an attempt that then fails (a wrong link,
say, whose request rolls back) still counts; a refused one is not counted (retrying does not
push the wait further). Rows that left their window are swept a few at a time as new ones
come, so the table holds about the last window's events.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import locks
from app.db import Database
from app.domain.rate_limit import NS_PER_SECOND, RateLimited, admit, epoch_ns
from app.models.rate_limit import RateLimitHit

# Expired rows of the bucket deleted by each admitted event: more than one, so the sweep
# outpaces the inserts and the table stays near one window's events.
SWEEP_ROWS = 20

_NOW = text("SELECT clock_timestamp()")


async def take(
    session: AsyncSession, bucket: str, key: str, *, limit: int, window_seconds: int = 60
) -> None:
    """Count one event of ``key`` under ``bucket`` now, or raise :class:`RateLimited` (with
    the seconds to wait) when ``limit`` events of the key lie in the last
    ``window_seconds``. Holds the key's lock until the transaction ends."""
    await locks.hold_text(session, f"rate-limit:{bucket}:{key}")
    now: datetime = await session.scalar(_NOW)
    window = timedelta(seconds=window_seconds)
    recent = await session.scalars(
        select(col(RateLimitHit.at))
        .where(
            col(RateLimitHit.bucket) == bucket,
            col(RateLimitHit.key) == key,
            col(RateLimitHit.at) > now - window,
        )
        .order_by(col(RateLimitHit.at))
    )
    log = deque(epoch_ns(moment) for moment in recent)
    decision = admit(log, epoch_ns(now), limit=limit, window_ns=window_seconds * NS_PER_SECOND)
    if not decision.allowed:
        raise RateLimited(decision.retry_after)
    session.add(RateLimitHit(bucket=bucket, key=key, at=now))
    expired = (
        select(col(RateLimitHit.id))
        .where(col(RateLimitHit.bucket) == bucket, col(RateLimitHit.at) <= now - window)
        .limit(SWEEP_ROWS)
        # Another process sweeping the same rows is left to it (no waiting, no deadlock).
        .with_for_update(skip_locked=True)
    )
    await session.execute(delete(RateLimitHit).where(col(RateLimitHit.id).in_(expired)))


async def take_slot(
    database: Database, bucket: str, key: str, *, limit: int, window_seconds: int = 60
) -> None:
    """:func:`take` in a transaction of its own, committed when the event is admitted."""
    async with database.sessionmaker() as session, session.begin():
        await take(session, bucket, key, limit=limit, window_seconds=window_seconds)
