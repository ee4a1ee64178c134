"""Test harness: one real PostgreSQL per test session, one rolled-back transaction per test.

The server is the embedded one (a temporary data folder, deleted at the end) unless
CARTERA_DATABASE_URL names another; either way the suite works in a database of its own,
created here, migrated with ``alembic upgrade head`` and dropped at the end.

Each test runs inside one connection-level transaction. The app's sessions join it with
``join_transaction_mode="create_savepoint"``, so application commits and rollbacks behave
as in production, and the test still leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app import migrations
from app.config import Settings, get_settings
from app.db import Database, EmbeddedPostgres
from app.domain.roles import Role, Skill
from app.main import create_app
from app.models.user import User
from app.security import Principal, hash_secret_now
from app.services.auth import staff_token
from tests.factories import TEST_PASSWORD

# Fixtures shared by several test modules, defined beside their helpers.
from tests.helpers.interactions import interactions_floor  # noqa: F401
from tests.helpers.payments import payments_desk  # noqa: F401
from tests.helpers.plans import plans_desk  # noqa: F401
from tests.helpers.portal import portal_world  # noqa: F401

# Hashing with argon2 is slow on purpose; tests share one hash of the one password.
_TEST_PASSWORD_HASH = hash_secret_now(TEST_PASSWORD)


class DatabaseServer:
    """A PostgreSQL server on which the suite may create and drop databases."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def url_for(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def _run(self, statement: str) -> None:
        async def go() -> None:
            engine = create_async_engine(
                self.admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
            )
            async with engine.connect() as connection:
                await connection.execute(text(statement))
            await engine.dispose()

        asyncio.run(go())

    def create_database(self, prefix: str = "cartera_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._run(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        self._run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Suites that kill processes, inject faults, race requests or fuzz: `make test` runs them
# (in parallel with the rest), `make test-fast` leaves them out for the inner loop.
_SLOW_FOLDERS = frozenset({"reliability"})
_SLOW_FILES = frozenset(
    {"test_fuzz.py", "test_workbook_bombs.py", "test_concurrency.py", "test_migrations.py"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path
        if (
            path.parent.name in _SLOW_FOLDERS
            or path.name in _SLOW_FILES
            or path.name.endswith("_races.py")
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def database_server() -> Iterator[DatabaseServer]:
    configured = get_settings().async_database_url
    if configured is not None:
        yield DatabaseServer(configured)
        return
    embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cartera-test-")), delete_on_stop=True)
    embedded.start()
    try:
        yield DatabaseServer(embedded.admin_url())
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def database_url(database_server: DatabaseServer) -> Iterator[str]:
    url = database_server.create_database()
    migrations.upgrade(url)
    try:
        yield url
    finally:
        database_server.drop_database(url)


@pytest.fixture(scope="session")
def settings() -> Settings:
    # The principal cache is off: a request reads its caller every time, so tests that count
    # statements per request count the same whichever request comes first. Its own tests
    # (tests/security/test_principal_cache.py) give the app a cache of their own.
    return Settings(  # type: ignore[call-arg]
        env="test", database_url=None, log_json=True, principal_cache_seconds=0, _env_file=None
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for arranging and inspecting data inside the test's transaction."""
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def app(engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings):
    return create_app(settings, Database(engine, sessionmaker))


class Clock:
    """The server's clock as the app reads it (app.deps.server_clock); ``now`` None: real."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


@pytest.fixture
def clock(app) -> Clock:
    """Set ``clock.now`` to record a contact as of when it happened (entered live)."""
    from app.deps import server_clock

    found = Clock()
    app.dependency_overrides[server_clock] = found
    return found


@pytest.fixture
async def client(app) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


UserFactory = Callable[..., Awaitable[User]]


@pytest.fixture
def make_user(session: AsyncSession) -> UserFactory:
    """Insert a staff user directly (no audit event): ``await make_user(Role.COLLECTOR)``."""

    async def make(
        role: Role = Role.COLLECTOR,
        *,
        username: str | None = None,
        skills: list[Skill] | None = None,
        is_active: bool = True,
    ) -> User:
        if skills is None:
            skills = [Skill.PHONE] if role is Role.COLLECTOR else []
        user = User(
            username=username or f"{role.value}-{uuid.uuid4().hex[:8]}",
            full_name=f"Test {role.value}",
            role=role.value,
            skills=[s.value for s in skills],
            password_hash=_TEST_PASSWORD_HASH,
            is_active=is_active,
        )
        session.add(user)
        await session.commit()
        return user

    return make


def bearer_for(settings: Settings, user: User, *, now: datetime | None = None) -> dict[str, str]:
    issued = staff_token(settings, user, now or datetime.now(UTC))
    return {"Authorization": f"Bearer {issued.access_token}"}


@pytest.fixture
def auth_headers(settings: Settings) -> Callable[[User], dict[str, str]]:
    return lambda user: bearer_for(settings, user)


def principal_of(user: User) -> Principal:
    return Principal(
        subject=str(user.id),
        role=Role(user.role),
        user_id=user.id,
        username=user.username,
        skills=frozenset(Skill(s) for s in user.skills),
    )
