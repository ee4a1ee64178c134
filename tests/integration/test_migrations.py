"""Migrations build the schema from nothing, undo it completely, and match the models."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app import migrations


def tables(url: str) -> set[str]:
    async def go() -> set[str]:
        engine = create_async_engine(url, poolclass=NullPool)
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            names = {r[0] for r in rows}
        await engine.dispose()
        return names

    return asyncio.run(go())


@pytest.fixture
def empty_database(database_server):
    url = database_server.create_database("cartera_migrations")
    yield url
    database_server.drop_database(url)


def test_upgrade_to_head_then_downgrade_to_base_and_up_again(empty_database):
    migrations.upgrade(empty_database)
    created = tables(empty_database)
    assert {
        "app_user",
        "team",
        "team_member",
        "partner",
        "partner_client",
        "audit_event",
        "login_attempt",
        "alembic_version",
    } <= created
    migrations.downgrade(empty_database, "base")
    assert tables(empty_database) <= {"alembic_version"}
    migrations.upgrade(empty_database)
    assert tables(empty_database) == created


def test_models_and_migrations_agree(empty_database):
    migrations.upgrade(empty_database)
    migrations.check(empty_database)  # raises when autogenerate would produce a change
