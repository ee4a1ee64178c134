"""Fixtures for tests that need real connections and committed data (races)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from app import migrations
from app.db import Database, open_database
from app.domain.roles import Role
from app.main import create_app
from app.models.user import User
from tests.factories import committed_user

AddUser = Callable[[Role], Awaitable[User]]


@pytest.fixture
def committed_url(database_server: Any) -> Iterator[str]:
    """A database of its own, migrated, whose writes are committed (dropped afterwards)."""
    url = database_server.create_database("cartera_race")
    migrations.upgrade(url)
    yield url
    database_server.drop_database(url)


@pytest.fixture
async def live(
    committed_url: str, settings: Any
) -> AsyncIterator[tuple[AsyncClient, AddUser, Database]]:
    """The app on a real connection pool, as in production, plus a way to add users."""
    database = open_database(committed_url, settings)
    app = create_app(settings, database)

    async def add_user(role: Role) -> User:
        return await committed_user(database, role)

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        yield client, add_user, database
    await database.dispose()
