"""The KYC search limit under concurrency, across processes: two apps with engines of their
own (two API processes) on one committed database, each with its own in-process window,
take simultaneous searches from one user. The per-user advisory lock makes each search
see the ones committed before it, so exactly ``limit`` are answered and the rest are 429;
without the lock every transaction would count none of the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select
from sqlmodel import col

from app.config import Settings
from app.db import open_database
from app.domain.roles import Role
from app.main import create_app
from app.models.audit import AuditEvent
from tests.conftest import bearer_for

LIMIT = 3
SEARCHES = 8


async def test_simultaneous_searches_across_processes_admit_exactly_the_limit(
    live, committed_url: str, tmp_path: Path
):
    _, add_user, database = live
    manager = await add_user(Role.MANAGER)
    settings = Settings(  # type: ignore[call-arg]
        env="test", database_url=None, data_dir=tmp_path, kyc_searches_per_minute=LIMIT,
        _env_file=None,
    )  # fmt: skip
    headers = bearer_for(settings, manager)
    processes = [open_database(committed_url, settings) for _ in range(2)]
    try:
        clients = [
            AsyncClient(transport=ASGITransport(app=create_app(settings, db)), base_url="http://t")
            for db in processes
        ]
        answers = await asyncio.gather(
            *(
                clients[n % 2].get(
                    "/api/v1/kyc/search", params={"name": "Ana Ruiz"}, headers=headers
                )
                for n in range(SEARCHES)
            )
        )
        for client in clients:
            await client.aclose()
    finally:
        for db in processes:
            await db.dispose()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * LIMIT + [429] * (SEARCHES - LIMIT), [a.text for a in answers]
    async with database.sessionmaker() as session:
        on_record = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                col(AuditEvent.actor_id) == str(manager.id),
                col(AuditEvent.action) == "kyc.search",
            )
        )
    assert on_record == LIMIT
