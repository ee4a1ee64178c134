"""The job worker (``app.jobs.worker``, procrastinate) on committed data and a real
connection pool: pushes queued with their upload and processed once, a partner's in order,
taken over when a worker died, and aging once per business date."""

from __future__ import annotations

import asyncio
import functools
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select, text, update
from sqlmodel import col

from app import migrations
from app.db import Database, open_database
from app.domain.roles import Role
from app.domain.webhooks import EventKind
from app.jobs.tasks import retry_stalled_jobs
from app.jobs.worker import age_if_due, open_jobs, run_until_empty, run_worker
from app.main import create_app
from app.models.account import Account, AccountEvent
from app.models.assignment import Assignment, AssignmentChunk
from app.models.audit import AuditEvent
from app.models.partner import Partner
from app.models.user import User
from app.models.webhook import WebhookEvent
from app.security import hash_secret_now
from app.services import assignments as service
from app.services import uploads
from tests.conftest import TEST_PASSWORD, bearer_for
from tests.factories import make_account, make_debtor, make_partner, push_rows

ZONE = "America/Mexico_City"


@pytest.fixture
def committed_url(database_server):
    url = database_server.create_database("cartera_worker")
    migrations.upgrade(url)
    yield url
    database_server.drop_database(url)


class Live:
    """The app and the worker on one committed database, as in production."""

    def __init__(
        self, database: Database, client: AsyncClient, headers: dict[str, str], settings: Any
    ):
        self.database = database
        self.client = client
        self.headers = headers
        self.settings = settings

    async def work(self, concurrency: int = 1) -> int:
        """Run the jobs due now; how many ran."""
        return await run_until_empty(self.database, self.settings, concurrency=concurrency)

    async def job_of(self, upload_id: uuid.UUID) -> tuple[str, int, int]:
        """(status, attempts, seconds until due) of the upload's procrastinate job."""
        async with self.database.sessionmaker() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT status, attempts, coalesce(extract(epoch FROM scheduled_at"
                        " - now()), 0) FROM procrastinate_jobs"
                        " WHERE args ->> 'upload_id' = :id ORDER BY id DESC LIMIT 1"
                    ),
                    {"id": str(upload_id)},
                )
            ).one()
        return str(row[0]), int(row[1]), int(row[2])

    async def partner(self, **overrides: Any) -> Partner:
        async with self.database.sessionmaker() as session, session.begin():
            return await make_partner(session, **overrides)

    async def push(self, partner: Partner, refs: list[str], first: int = 0) -> uuid.UUID:
        response = await self.client.post(
            f"/api/v1/partners/{partner.id}/assignments",
            json={"rows": push_rows(refs, first=first)},
            headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 202, response.text
        return uuid.UUID(response.json()["id"])

    async def assignment(self, assignment_id: uuid.UUID) -> Assignment:
        async with self.database.sessionmaker() as session:
            found = await session.get(Assignment, assignment_id)
            assert found is not None
            return found

    async def scalar(self, query: Any) -> Any:
        async with self.database.sessionmaker() as session:
            return await session.scalar(query)


@pytest.fixture
async def live(committed_url, settings):
    database = open_database(committed_url, settings)
    app = create_app(settings, database)
    async with database.sessionmaker() as session, session.begin():
        manager = User(
            username=f"manager-{uuid.uuid4().hex[:8]}",
            full_name="Worker test",
            role=Role.MANAGER.value,
            skills=[],
            password_hash=hash_secret_now(TEST_PASSWORD),
        )
        session.add(manager)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        yield Live(database, client, bearer_for(settings, manager), settings)
    await database.dispose()


async def test_a_queued_push_is_processed_by_its_job(live):
    partner = await live.partner()
    pushed = await live.push(partner, ["W-1", "W-2", "W-3"])
    assert (await live.assignment(pushed)).status == "queued"
    # The job was queued in the transaction that accepted the push.
    assert (await live.job_of(pushed))[:2] == ("todo", 0)

    assert await live.work() == 1

    done = await live.assignment(pushed)
    assert (done.status, done.received, done.created, done.attempts) == ("completed", 3, 3, 1)
    assert done.started_at is not None and done.finished_at is not None
    accounts = await live.scalar(
        select(func.count()).select_from(Account).where(col(Account.partner_id) == partner.id)
    )
    assert accounts == 3
    chunks = await live.scalar(
        select(func.count())
        .select_from(AssignmentChunk)
        .where(col(AssignmentChunk.assignment_id) == pushed)
    )
    assert chunks == 0
    read = await live.client.get(f"/api/v1/assignments/{pushed}", headers=live.headers)
    assert read.json()["status"] == "completed"
    assert read.json()["counts"]["created"] == 3
    # Nothing left to do.
    assert await live.work() == 0


async def test_a_partners_pushes_are_processed_in_the_order_sent_even_with_many_workers(live):
    partner = await live.partner()
    other = await live.partner()
    pushed = [await live.push(partner, [f"O-{n}"], first=n) for n in range(4)]
    theirs = await live.push(other, ["T-1"], first=50)

    ran = await asyncio.gather(live.work(concurrency=3), live.work(concurrency=3))

    assert sum(ran) == 5
    done = [await live.assignment(p) for p in pushed]
    assert [d.status for d in done] == ["completed"] * 4
    for before, after in itertools.pairwise(done):
        assert before.finished_at is not None and after.started_at is not None
        assert after.started_at >= before.finished_at
    assert (await live.assignment(theirs)).status == "completed"


async def test_concurrent_workers_never_take_the_same_push(live):
    partners = [await live.partner() for _ in range(4)]
    pushed = [
        await live.push(partner, [f"C-{n}-{i}" for i in range(20)], first=100 * n)
        for n, partner in enumerate(partners)
    ]

    ran = await asyncio.gather(*(live.work(concurrency=2) for _ in range(3)))

    assert sum(ran) == 4
    for assignment_id in pushed:
        done = await live.assignment(assignment_id)
        assert (done.status, done.created, done.attempts) == ("completed", 20, 1)
    events = await live.scalar(
        select(func.count()).select_from(AccountEvent).where(col(AccountEvent.kind) == "created")
    )
    assert events == 80


async def test_one_push_and_many_workers_give_one_processing(live):
    partner = await live.partner()
    pushed = await live.push(partner, ["ONE-1"])

    ran = await asyncio.gather(*(live.work() for _ in range(4)))

    assert sum(ran) == 1
    done = await live.assignment(pushed)
    assert (done.status, done.created, done.attempts) == ("completed", 1, 1)
    processed = await live.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            col(AuditEvent.action) == "assignment.processed",
            col(AuditEvent.entity_id) == str(pushed),
        )
    )
    assert processed == 1


async def test_a_push_whose_job_runs_twice_is_processed_once(live):
    """A job run again (retried after its worker was taken for dead while that worker was
    still at it) finds the push done under its row lock and leaves it as it is."""
    partner = await live.partner()
    pushed = await live.push(partner, ["T-1", "T-2"])
    # One run has marked the push taken and is about to process it...
    assert await service.start_job(live.database, pushed, datetime.now(UTC))
    # ...when the other run takes it and processes it.
    assert await live.work() == 1
    done = await live.assignment(pushed)
    assert (done.status, done.created, done.attempts) == ("completed", 2, 2)

    # The first run goes on, or fails and records it: the push stays as the other left it.
    async with live.database.sessionmaker() as session, session.begin():
        again = await service.process_assignment(session, pushed)
        await service.mark_failed(session, pushed, RuntimeError("the first run failed"))
    assert again.status == "completed"
    # A third run of its job finds nothing to do.
    async with live.database.sessionmaker() as session, session.begin():
        await uploads.enqueue(session, uploads.ASSIGNMENTS, pushed, partner.id)
    assert await live.work() == 1

    after = await live.assignment(pushed)
    assert (after.status, after.created, after.attempts, after.finished_at, after.failure) == (
        "completed", 2, 2, done.finished_at, None,
    )  # fmt: skip
    created = await live.scalar(
        select(func.count())
        .select_from(AccountEvent)
        .join(Account, col(Account.id) == col(AccountEvent.account_id))
        .where(col(Account.partner_id) == partner.id, col(AccountEvent.kind) == "created")
    )
    processed = await live.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            col(AuditEvent.action) == "assignment.processed",
            col(AuditEvent.entity_id) == str(pushed),
        )
    )
    told = await live.scalar(
        select(func.count())
        .select_from(WebhookEvent)
        .where(
            col(WebhookEvent.partner_id) == partner.id,
            col(WebhookEvent.kind) == EventKind.ASSIGNMENT_PROCESSED,
        )
    )
    assert (created, processed, told) == (2, 1, 1)


async def test_a_partners_next_push_starts_when_the_one_before_ends_not_at_the_next_poll(
    live,
):
    """The second push waits for the first (their lock); the first's end wakes the worker,
    which would otherwise sleep until its next poll (an hour here)."""
    partner = await live.partner()
    pushed = [await live.push(partner, [f"N-{n}"], first=n) for n in range(3)]
    stop = anyio.Event()
    work = functools.partial(
        run_worker, live.database, stop=stop, settings=live.settings, concurrency=2,
        poll_seconds=3600, periodic=False,
    )  # fmt: skip

    async def all_done() -> None:
        # Polled: the database says when all are done.
        while {(await live.assignment(p)).status for p in pushed} != {"completed"}:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        stop.set()

    # A guard against a hang, not a measure: the poll would come after an hour.
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(all_done)
            group.start_soon(work)
    done = [await live.assignment(p) for p in pushed]
    for before, after in itertools.pairwise(done):
        assert before.finished_at is not None and after.started_at is not None
        assert after.started_at >= before.finished_at


async def _job_running_on_a_dead_worker(live: Live, pushed: uuid.UUID) -> None:
    """The state a worker killed mid-push leaves: the push taken once, its job ``doing`` on
    a worker whose last heartbeat is old."""
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    async with live.database.sessionmaker() as session, session.begin():
        await session.execute(
            update(Assignment)
            .where(col(Assignment.id) == pushed)
            .values(status="processing", started_at=long_ago, attempts=1)
        )
        dead = await session.scalar(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat)"
                " VALUES (now() - interval '10 minutes') RETURNING id"
            )
        )
        await session.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w, attempts = 0"
                " WHERE args ->> 'upload_id' = :id"
            ),
            {"w": dead, "id": str(pushed)},
        )


async def test_a_push_whose_worker_died_is_taken_over(live):
    partner = await live.partner()
    pushed = await live.push(partner, ["D-1"])
    await _job_running_on_a_dead_worker(live, pushed)
    assert await live.work() == 0  # its job is still "doing"

    async with open_jobs(live.database, periodic=False) as app:
        retried = await retry_stalled_jobs(app, live.settings.job_stalled_seconds)
    assert len(retried) == 1
    assert await live.work() == 1

    done = await live.assignment(pushed)
    assert (done.status, done.created, done.attempts) == ("completed", 1, 2)


async def test_a_push_of_a_live_worker_is_not_taken_over(live):
    partner = await live.partner()
    pushed = await live.push(partner, ["P-1"])
    async with live.database.sessionmaker() as session, session.begin():
        alive = await session.scalar(
            text("INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id")
        )
        await session.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w"
                " WHERE args ->> 'upload_id' = :id"
            ),
            {"w": alive, "id": str(pushed)},
        )
    async with open_jobs(live.database, periodic=False) as app:
        assert await retry_stalled_jobs(app, live.settings.job_stalled_seconds) == []
    assert await live.work() == 0
    assert ((await live.assignment(pushed)).status, await live.job_of(pushed)) == (
        "queued",
        ("doing", 0, 0),
    )


async def test_a_push_held_by_another_worker_waits_for_it(live):
    partner = await live.partner()
    pushed = await live.push(partner, ["H-1"])
    async with live.database.sessionmaker() as holder, holder.begin():
        # Another worker's processing transaction holds the push's row.
        await holder.get(Assignment, pushed, with_for_update=True)
        assert await live.work() == 1
        status, attempts, due_in = await live.job_of(pushed)
    assert (status, attempts) == ("todo", 1)
    assert due_in >= 1  # retried later, not at once
    assert (await live.assignment(pushed)).attempts == 0  # never started

    async with live.database.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now()"))
    assert await live.work() == 1
    assert (await live.assignment(pushed)).status == "completed"


async def test_a_push_that_keeps_failing_is_given_up(live):
    partner = await live.partner()
    pushed = await live.push(partner, ["F-1"])
    async with live.database.sessionmaker() as session, session.begin():
        await session.execute(
            update(Assignment)
            .where(col(Assignment.id) == pushed)
            .values(status="processing", attempts=service.MAX_ATTEMPTS)
        )
    assert await live.work() == 1
    done = await live.assignment(pushed)
    assert done.status == "failed"
    assert done.failure is not None and "again" in done.failure
    accounts = await live.scalar(
        select(func.count()).select_from(Account).where(col(Account.partner_id) == partner.id)
    )
    assert accounts == 0


async def test_a_push_that_cannot_be_processed_is_marked_failed_and_not_retried(live):
    partner = await live.partner()
    broken = await live.push(partner, ["B-1"])
    fine = await live.push(partner, ["B-2"], first=1)
    async with live.database.sessionmaker() as session, session.begin():
        await session.execute(
            update(AssignmentChunk)
            .where(col(AssignmentChunk.assignment_id) == broken)
            .values(data=b'{"rows": [')
        )

    assert await live.work() == 2
    failed = await live.assignment(broken)
    assert failed.status == "failed"
    assert failed.failure
    assert failed.finished_at is not None
    assert await live.job_of(broken) == ("failed", 1, 0)  # tried once, not retried
    assert (await live.assignment(fine)).status == "completed"


# ---------------------------------------------------------------------------------------
# Aging


async def test_age_if_due_runs_once_per_date(live):
    partner = await live.partner()
    today = datetime.now(ZoneInfo(ZONE)).date()
    async with live.database.sessionmaker() as session, session.begin():
        account = await make_account(
            session,
            partner,
            await make_debtor(session),
            oldest_unpaid_due_date=today - timedelta(days=31),
            dpd=30,
            stage="mid",
            aged_as_of=today - timedelta(days=1),
        )

    assert await age_if_due(live.database, ZONE) is True
    assert await age_if_due(live.database, ZONE) is False

    async with live.database.sessionmaker() as session:
        aged = await session.get(Account, account.id)
        assert aged is not None
        assert (aged.dpd, aged.stage, aged.aged_as_of) == (31, "mid", today)
        run = (
            await session.execute(
                text("SELECT accounts_aged, runs FROM aging_run WHERE as_of = :d"), {"d": today}
            )
        ).one()
        assert tuple(run) == (1, 1)
        audits = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(col(AuditEvent.action) == "aging.run")
        )
        assert audits == 1


async def test_age_if_due_runs_once_per_date_with_workers_at_the_same_time(live):
    partner = await live.partner()
    today = datetime.now(ZoneInfo(ZONE)).date()
    async with live.database.sessionmaker() as session, session.begin():
        account = await make_account(
            session,
            partner,
            await make_debtor(session),
            oldest_unpaid_due_date=today - timedelta(days=30),
            dpd=29,
            stage="early",
            aged_as_of=today - timedelta(days=1),
        )

    ran = await asyncio.gather(*(age_if_due(live.database, ZONE) for _ in range(3)))

    async with live.database.sessionmaker() as session:
        transitions = await session.scalar(
            select(func.count())
            .select_from(AccountEvent)
            .where(
                col(AccountEvent.account_id) == account.id,
                col(AccountEvent.kind) == "stage_changed",
            )
        )
        assert transitions == 1
        [(runs,)] = (
            await session.execute(text("SELECT runs FROM aging_run WHERE as_of = :d"), {"d": today})
        ).all()
    assert ran.count(True) == 1, ran
    assert runs == 1
