"""Clients that stall or a database that is saturated get answers, not a hung worker or a 500."""

from __future__ import annotations

import asyncio
import uuid

from httpx import ASGITransport, AsyncClient
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.db import Database
from app.domain.roles import Role
from app.main import create_app
from tests.factories import make_partner


async def test_a_body_that_stops_arriving_is_cut_off_with_408(
    engine, sessionmaker, settings, session, make_user, auth_headers
):
    app = create_app(
        settings.model_copy(update={"body_idle_seconds": 0.2}), Database(engine, sessionmaker)
    )
    partner = await make_partner(session)
    headers = auth_headers(await make_user(Role.MANAGER))

    async def stalled():
        yield b"external_ref,product_type"
        await asyncio.sleep(2)
        yield b"\r\n"

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post(
            f"/api/v1/partners/{partner.id}/assignments",
            content=stalled(),
            headers={**headers, "Content-Type": "text/csv", "Idempotency-Key": uuid.uuid4().hex},
        )
    assert response.status_code == 408
    assert response.json()["code"] == "request_timeout"


async def test_an_exhausted_pool_is_a_503_to_retry(app):
    async def saturated() -> None:
        raise PoolTimeout("QueuePool limit reached")

    app.add_api_route("/test-saturated", saturated)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/test-saturated", headers={"Accept-Language": "es"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.json()
    assert body["code"] == "database_busy"
    assert body["title"] == "Ocupado"
