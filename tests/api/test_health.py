"""Liveness, readiness against the migration head, and metrics."""

from __future__ import annotations

from sqlalchemy import text

from app.migrations import head_revision


async def test_healthz_answers_without_the_database(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_at_the_migration_head(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["migration"] == head_revision()


async def test_readyz_is_503_when_migrations_are_behind(client, session):
    await session.execute(text("UPDATE alembic_version SET version_num = 'an_older_rev'"))
    await session.commit()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_ready"
    assert "an_older_rev" in body["detail"]


async def test_readyz_is_503_on_an_empty_schema(client, session):
    await session.execute(text("DELETE FROM alembic_version"))
    await session.commit()
    assert (await client.get("/readyz")).status_code == 503


async def test_metrics_count_requests_by_route_template(client, make_user, auth_headers):
    from app.domain.roles import Role

    admin = await make_user(Role.ADMIN)
    await client.get(f"/api/v1/users/{admin.id}", headers=auth_headers(admin))
    body = (await client.get("/metrics", headers=auth_headers(admin))).text
    assert 'route="/api/v1/users/{user_id}"' in body
    assert str(admin.id) not in body
    assert "cartera_http_request_duration_seconds_bucket" in body


async def test_metrics_are_for_the_scraper_admins_and_auditors(
    engine, sessionmaker, settings, make_user, auth_headers
):
    from httpx import ASGITransport, AsyncClient
    from pydantic import SecretStr

    from app.db import Database
    from app.domain.roles import Role
    from app.main import create_app

    scrape = "scrape-" + "k" * 40
    app = create_app(
        settings.model_copy(update={"metrics_token": SecretStr(scrape)}),
        Database(engine, sessionmaker),
    )
    users = {role: await make_user(role) for role in (Role.ADMIN, Role.AUDITOR, Role.MANAGER)}
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:

        async def status(headers: dict[str, str]) -> int:
            return (await client.get("/metrics", headers=headers)).status_code

        assert await status({"Authorization": f"Bearer {scrape}"}) == 200
        assert await status(auth_headers(users[Role.ADMIN])) == 200
        assert await status(auth_headers(users[Role.AUDITOR])) == 200
        assert await status(auth_headers(users[Role.MANAGER])) == 403
        assert await status({}) == 401
        assert await status({"Authorization": f"Bearer {scrape[:-1]}x"}) == 401
        assert await status({"Authorization": f"Bearer {scrape}x"}) == 401
