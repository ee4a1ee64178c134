"""The per-address lockout under a burst: real connections, committed data."""

from __future__ import annotations

import asyncio

from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select

from app.db import open_database
from app.main import create_app
from app.models.audit import AuditEvent
from app.models.user import LoginAttempt
from tests.factories import assert_problem


async def test_a_burst_under_many_names_begins_one_address_lock(committed_url, settings):
    """Guesses of different names from one address are not serialised before the password
    check, so a burst may overshoot the address's limit by the requests in flight; the lock
    still begins once, audited once."""
    limit = 6
    limited = settings.model_copy(update={"login_address_max_failures": limit})
    database = open_database(committed_url, limited)
    app = create_app(limited, database)
    transport = ASGITransport(app=app, client=("203.0.113.66", 40000))
    try:
        async with AsyncClient(transport=transport, base_url="http://t") as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/auth/token", data={"username": f"name-{n}", "password": "guess"}
                    )
                    for n in range(4 * limit)
                )
            )
            statuses = [r.status_code for r in responses]
            assert set(statuses) <= {401, 429}
            assert statuses.count(401) >= limit
            # Afterwards every name is refused from this address.
            late = await client.post(
                "/api/v1/auth/token", data={"username": "someone-else", "password": "x"}
            )
            assert_problem(late, 429, "login_locked")
        async with database.sessionmaker() as session:
            failures = await session.scalar(select(func.count()).select_from(LoginAttempt))
            events = (
                await session.scalars(
                    select(AuditEvent.entity_type).where(AuditEvent.action == "auth.locked_out")
                )
            ).all()
        assert failures == statuses.count(401)
        assert events == ["login_address"]
    finally:
        await database.dispose()
