"""Rate limits counted in PostgreSQL (app/services/rate_limit.py): a key's events in the
window decide, refused events are not counted, expired rows are swept, and concurrent takers
on separate connections (as separate processes are) never share the last slot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col

from app.db import open_database
from app.domain.errors import RateLimited
from app.models.rate_limit import RateLimitHit
from app.services import rate_limit


async def _hits(session, bucket: str, key: str | None = None) -> int:
    query = select(func.count()).select_from(RateLimitHit).where(col(RateLimitHit.bucket) == bucket)
    if key is not None:
        query = query.where(col(RateLimitHit.key) == key)
    return int(await session.scalar(query) or 0)


async def test_the_limit_counts_admitted_events_per_key(session):
    for _ in range(3):
        await rate_limit.take(session, "test-bucket", "198.51.100.7", limit=3)
    with pytest.raises(RateLimited) as refused:
        await rate_limit.take(session, "test-bucket", "198.51.100.7", limit=3)
    # The oldest of the three leaves a 60-second window within the minute.
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.code == "rate_limited"
    # The refusal wrote nothing; another key and another bucket have their own counts.
    assert await _hits(session, "test-bucket", "198.51.100.7") == 3
    await rate_limit.take(session, "test-bucket", "198.51.100.8", limit=3)
    await rate_limit.take(session, "other-bucket", "198.51.100.7", limit=3)
    assert await _hits(session, "test-bucket") == 4


async def test_events_that_left_the_window_neither_count_nor_stay(session):
    now = await session.scalar(text("SELECT clock_timestamp()"))
    session.add_all(
        RateLimitHit(bucket="swept", key=f"203.0.113.{n}", at=now - timedelta(minutes=2))
        for n in range(rate_limit.SWEEP_ROWS + 5)
    )
    session.add_all(
        RateLimitHit(bucket="swept", key="203.0.113.1", at=now - timedelta(seconds=61))
        for _ in range(2)
    )
    await session.flush()
    # Two events of the key a minute and a second ago: outside a 60-second window.
    await rate_limit.take(session, "swept", "203.0.113.1", limit=1)
    # One take sweeps up to SWEEP_ROWS expired rows of the bucket; the new one stays.
    left = await _hits(session, "swept")
    assert left == rate_limit.SWEEP_ROWS + 5 + 2 + 1 - rate_limit.SWEEP_ROWS
    recent = await session.scalar(
        select(func.count())
        .select_from(RateLimitHit)
        .where(
            col(RateLimitHit.bucket) == "swept", col(RateLimitHit.at) > now - timedelta(seconds=1)
        )
    )
    assert recent == 1


async def test_concurrent_takers_on_separate_connections_share_one_limit(committed_url, settings):
    database = open_database(committed_url, settings)
    try:

        async def take() -> bool:
            try:
                await rate_limit.take_slot(database, "race", "192.0.2.9", limit=3)
            except RateLimited:
                return False
            return True

        admitted = await asyncio.gather(*(take() for _ in range(10)))
        assert sorted(admitted) == [False] * 7 + [True] * 3
        async with database.sessionmaker() as session:
            assert await _hits(session, "race", "192.0.2.9") == 3
            stamps = (await session.scalars(select(col(RateLimitHit.at)))).all()
        # Stamped by the database's clock, which is the one clock every process shares.
        assert all(abs(datetime.now(UTC) - at) < timedelta(minutes=1) for at in stamps)
    finally:
        await database.dispose()
