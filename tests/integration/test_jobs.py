"""Jobs on procrastinate (app/jobs/): what each kind retries, a failed push sent again under
its key, an upload whose job went missing queued again, and the job metrics."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from procrastinate import App, PsycopgConnector
from procrastinate.jobs import Job
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import col

from app.db import DatabaseUnreachable
from app.domain.roles import Role
from app.jobs import metrics
from app.jobs.queue import UploadBusy
from app.jobs.retry import GivenUp, TransientRetry, is_transient
from app.jobs.tasks import (
    FINISHED_JOBS_KEPT,
    LOST_AFTER,
    prune_finished_jobs,
    register,
    requeue_lost_uploads,
)
from app.jobs.worker import open_jobs, run_until_empty
from app.models.account import Account
from app.models.assignment import Assignment, AssignmentChunk
from app.services import assignments
from tests.conftest import bearer_for
from tests.factories import business_today, make_partner

# ---------------------------------------------------------------------------------------
# What is transient, and the backoff


def _job(attempts: int) -> Job:
    return Job(id=1, queue="default", lock=None, queueing_lock=None, task_name="t",
               attempts=attempts, task_kwargs={})  # fmt: skip


def _wrapped(orig: BaseException) -> DBAPIError:
    """The exception SQLAlchemy raises for a driver error: the driver's as its cause."""
    try:
        raise DBAPIError("statement", {}, orig) from orig
    except DBAPIError as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        DatabaseUnreachable("ConnectionRefusedError"),
        ConnectionResetError(),
        UploadBusy("x"),
    ],
    ids=["serialization", "deadlock", "shutdown", "closed", "too-many", "unreachable",
         "reset", "busy"],
)  # fmt: skip
def test_transient_failures_are_retried(error: Exception) -> None:
    assert is_transient(error)
    assert is_transient(_wrapped(error))


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.CheckViolationError("check"),
        ValueError("not a number"),
        KeyError("column"),
    ],
    ids=["unique", "check", "value", "key"],
)
def test_other_failures_are_not_retried(error: Exception) -> None:
    assert not is_transient(error)
    assert not is_transient(_wrapped(error))


def test_a_job_given_up_is_not_retried_whatever_caused_it() -> None:
    try:
        raise GivenUp("push") from asyncpg.exceptions.DeadlockDetectedError("deadlock")
    except GivenUp as exc:
        assert not is_transient(exc)


def test_the_backoff_doubles_up_to_its_cap_and_stops_at_the_last_attempt() -> None:
    strategy = TransientRetry(max_attempts=4, base_seconds=2, cap_seconds=10)
    assert [strategy.wait_after(n) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]
    deadlock = asyncpg.exceptions.DeadlockDetectedError("deadlock")
    decisions = [strategy.get_retry_decision(exception=deadlock, job=_job(n)) for n in range(4)]
    assert [d is not None for d in decisions] == [True, True, True, False]
    first = decisions[0]
    assert first is not None and first.retry_at is not None
    wait = (first.retry_at - datetime.now(UTC)).total_seconds()
    assert 1 < wait <= 2
    refused = IntegrityError("statement", {}, Exception("duplicate"))
    assert strategy.get_retry_decision(exception=refused, job=_job(0)) is None


def test_the_periodic_tasks_are_the_sweeps_aging_and_deliveries() -> None:
    app = register(App(connector=PsycopgConnector()))
    periodic = {task.task.name: task.cron for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic == {
        "cartera.webhooks": "* * * * * */2",
        "cartera.aging": "* * * * *",
        "cartera.documents_sweep": "17 * * * *",
        "cartera.requeue_lost": "* * * * *",
        "cartera.retry_stalled": "* * * * *",
        "cartera.prune_jobs": "41 3 * * *",
    }


# ---------------------------------------------------------------------------------------
# On a committed database


def _rows(refs: list[str], first: int) -> dict[str, Any]:
    due = (business_today() - timedelta(days=10)).isoformat()
    return {
        "rows": [
            {
                "external_ref": ref,
                "product_type": "installment",
                "currency": "MXN",
                "principal": "1000.00",
                "interest": "0",
                "fees": "0",
                "total": "1000.00",
                "oldest_unpaid_due_date": due,
                "debtor": {
                    "first_names": "Rosa",
                    "last_names": "Díaz",
                    "national_id_type": "RFC",
                    "national_id": f"DIRO{date(1971, 1, 1) + timedelta(days=first + i):%y%m%d}",
                },
            }
            for i, ref in enumerate(refs)
        ]
    }


class Jobs:
    def __init__(self, live: Any, settings: Any) -> None:
        self.client, self.add_user, self.database = live
        self.settings = settings
        self.headers: dict[str, str] = {}

    async def start(self) -> Any:
        manager = await self.add_user(Role.MANAGER)
        self.headers = bearer_for(self.settings, manager)
        async with self.database.sessionmaker() as session, session.begin():
            return await make_partner(session)

    async def push(self, partner: Any, body: dict[str, Any], key: str) -> Any:
        return await self.client.post(
            f"/api/v1/partners/{partner.id}/assignments",
            json=body,
            headers={**self.headers, "Idempotency-Key": key},
        )

    async def work(self) -> int:
        return await run_until_empty(self.database, self.settings)

    async def assignment(self, assignment_id: uuid.UUID) -> Assignment:
        async with self.database.sessionmaker() as session:
            return await session.get_one(Assignment, assignment_id)

    async def sql(self, statement: str, **params: Any) -> Any:
        async with self.database.sessionmaker() as session, session.begin():
            result = await session.execute(text(statement), params)
            return result.all() if result.returns_rows else result.rowcount

    async def accounts(self, partner: Any) -> int:
        async with self.database.sessionmaker() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Account)
                    .where(col(Account.partner_id) == partner.id)
                )
            )


@pytest.fixture
async def jobs(live, settings) -> Jobs:
    return Jobs(live, settings)


_JOB = (
    "SELECT status, attempts, extract(epoch FROM coalesce(scheduled_at, now()) - now())"
    " FROM procrastinate_jobs WHERE args ->> 'upload_id' = :id ORDER BY id DESC LIMIT 1"
)


async def test_a_push_interrupted_by_a_deadlock_is_retried_by_itself_later(jobs, monkeypatch):
    partner = await jobs.start()
    sent = await jobs.push(partner, _rows(["R-1", "R-2"], 0), uuid.uuid4().hex)
    assert sent.status_code == 202, sent.text
    pushed = uuid.UUID(sent.json()["id"])
    real_merge = assignments._merge
    calls = 0

    async def deadlocked_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        return await real_merge(*args, **kwargs)

    monkeypatch.setattr(assignments, "_merge", deadlocked_once)

    assert await jobs.work() == 1
    waiting = await jobs.assignment(pushed)
    assert (waiting.status, waiting.attempts, waiting.failure) == ("processing", 1, None)
    [(status, attempts, due_in)] = await jobs.sql(_JOB, id=str(pushed))
    assert (status, attempts) == ("todo", 1)
    assert 0.5 < float(due_in) <= jobs.settings.job_retry_base_seconds  # backoff, not at once
    assert await jobs.accounts(partner) == 0

    # Not due yet: a worker now finds nothing; once due, the retry completes the push.
    assert await jobs.work() == 0
    await jobs.sql("UPDATE procrastinate_jobs SET scheduled_at = now()")
    assert await jobs.work() == 1
    done = await jobs.assignment(pushed)
    assert (done.status, done.attempts, done.created) == ("completed", 2, 2)
    assert await jobs.accounts(partner) == 2


async def test_a_push_that_failed_for_good_is_retried_by_the_partner_under_its_key(jobs):
    partner = await jobs.start()
    body = _rows(["K-1", "K-2", "K-3"], 10)
    key = uuid.uuid4().hex
    sent = await jobs.push(partner, body, key)
    pushed = uuid.UUID(sent.json()["id"])
    async with jobs.database.sessionmaker() as session, session.begin():
        # The stored copy is damaged: the job fails for good (not a transient failure).
        await session.execute(
            update(AssignmentChunk)
            .where(col(AssignmentChunk.assignment_id) == pushed)
            .values(data=b'{"rows": [')
        )
    assert await jobs.work() == 1
    failed = await jobs.assignment(pushed)
    assert (failed.status, failed.attempts) == ("failed", 1)
    [(status, attempts, _)] = await jobs.sql(_JOB, id=str(pushed))
    assert (status, attempts) == ("failed", 1)  # not retried by the queue

    # Another body under the key is still refused, and changes nothing.
    other = await jobs.push(partner, _rows(["X-1"], 20), key)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert (await jobs.assignment(pushed)).status == "failed"

    again = await jobs.push(partner, body, key)
    assert again.status_code == 202, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.json()["id"], again.json()["status"]) == (str(pushed), "queued")
    requeued = await jobs.assignment(pushed)
    assert (requeued.attempts, requeued.failure, requeued.finished_at) == (0, None, None)

    assert await jobs.work() == 1
    done = await jobs.assignment(pushed)
    assert (done.status, done.created, done.attempts) == ("completed", 3, 1)
    # Sent once more after it completed: a plain replay, nothing queued.
    replay = await jobs.push(partner, body, key)
    assert (replay.status_code, replay.json()["status"]) == (202, "completed")
    assert await jobs.work() == 0


async def test_an_upload_whose_job_went_missing_is_queued_again(jobs):
    partner = await jobs.start()
    lost = uuid.UUID((await jobs.push(partner, _rows(["L-1"], 30), uuid.uuid4().hex)).json()["id"])
    kept = uuid.UUID((await jobs.push(partner, _rows(["L-2"], 31), uuid.uuid4().hex)).json()["id"])
    # As if the process had died between committing the upload and queueing its job (or the
    # upload had been queued before jobs moved to procrastinate).
    await jobs.sql("DELETE FROM procrastinate_jobs WHERE args ->> 'upload_id' = :id", id=str(lost))
    await jobs.sql(
        "UPDATE assignment SET submitted_at = now() - interval '5 minutes' WHERE id = :id",
        id=str(lost),
    )
    # Nothing is lost until it has waited a while (by the database's clock); the one with a
    # job is never touched.
    assert await requeue_lost_uploads(jobs.database, timedelta(hours=1)) == []

    assert await requeue_lost_uploads(jobs.database, LOST_AFTER) == [lost]
    assert await requeue_lost_uploads(jobs.database, LOST_AFTER) == []  # it has a job now
    assert await jobs.work() == 2
    for upload in (lost, kept):
        assert (await jobs.assignment(upload)).status == "completed"


async def test_queue_depth_and_job_metrics(jobs):
    partner = await jobs.start()
    for n in range(2):
        sent = await jobs.push(partner, _rows([f"M-{n}"], 40 + n), uuid.uuid4().hex)
        assert sent.status_code == 202
    async with jobs.database.sessionmaker() as session:
        rows = metrics.queue_rows(await session.execute(text(metrics.QUEUE_SQL)))
    assert [(r.task, r.waiting) for r in rows] == [("cartera.push", 2)]
    assert 0 <= rows[0].oldest_waiting_seconds < 600

    collected = {
        (family.name, sample.labels["task"]): sample.value
        for family in metrics.QueueCollector(lambda: rows).collect()
        for sample in family.samples
    }
    assert collected == {
        ("cartera_job_queue_depth", "cartera.push"): 2,
        ("cartera_job_oldest_waiting_seconds", "cartera.push"): rows[0].oldest_waiting_seconds,
    }

    def runs() -> float:
        return sum(
            s.value
            for s in metrics.JOB_DURATION.collect()[0].samples
            if s.name.endswith("_count") and s.labels["task"] == "cartera.push"
        )

    before = runs()
    assert await jobs.work() == 2
    assert runs() - before == 2
    async with jobs.database.sessionmaker() as session:
        assert metrics.queue_rows(await session.execute(text(metrics.QUEUE_SQL))) == []


async def test_the_api_with_its_in_process_worker_processes_a_push_on_its_own(
    committed_url, settings
):
    """`cartera serve` on the embedded database (make run): the worker inside the API is
    woken by the push's job and processes it, with nobody running a worker by hand."""
    from httpx import ASGITransport, AsyncClient

    from app.db import open_database
    from app.main import create_app
    from app.models.user import User
    from app.security import hash_secret_now
    from tests.conftest import TEST_PASSWORD

    database = open_database(committed_url, settings)
    app = create_app(settings.model_copy(update={"worker_in_process": True}), database)
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        manager = User(username=f"m-{uuid.uuid4().hex[:8]}", full_name="Serve", role="manager",
                       skills=[], password_hash=hash_secret_now(TEST_PASSWORD))  # fmt: skip
        session.add(manager)
    try:
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
        ):
            headers = {**bearer_for(settings, manager), "Idempotency-Key": uuid.uuid4().hex}
            sent = await client.post(
                f"/api/v1/partners/{partner.id}/assignments",
                json=_rows(["S-1", "S-2"], 60),
                headers=headers,
            )
            assert sent.status_code == 202, sent.text
            status = None
            for _ in range(300):
                read = await client.get(f"/api/v1/assignments/{sent.json()['id']}", headers=headers)
                status = read.json()["status"]
                if status == "completed":
                    break
                await asyncio.sleep(0.1)
            assert status == "completed"
    finally:
        await database.dispose()


async def test_jobs_that_ended_badly_are_kept_a_month_then_pruned(jobs):
    """A failed, cancelled or aborted job stays for the operators for FINISHED_JOBS_KEPT after
    its last event, then the nightly prune removes it; a younger one and a waiting one stay."""

    async def job(status: str, ended_days_ago: int) -> int:
        [(job_id,)] = await jobs.sql(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status)"
            " VALUES ('default', 'cartera.push', '{}', 'todo') RETURNING id"
        )
        if status != "todo":
            await jobs.sql(
                "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id", id=job_id
            )
            await jobs.sql(
                "UPDATE procrastinate_jobs SET status = CAST(:s AS procrastinate_job_status)"
                " WHERE id = :id",
                s=status,
                id=job_id,
            )
        await jobs.sql(
            "UPDATE procrastinate_events SET at = now() - make_interval(days => :d)"
            " WHERE job_id = :id",
            d=ended_days_ago,
            id=job_id,
        )
        return int(job_id)

    kept_days = FINISHED_JOBS_KEPT.days
    old = [await job(s, kept_days + 1) for s in ("failed", "cancelled", "aborted")]
    young = await job("failed", kept_days - 1)
    waiting = await job("todo", kept_days + 5)

    async with open_jobs(jobs.database, periodic=False) as app:
        await prune_finished_jobs(app)

    left = {row[0] for row in await jobs.sql("SELECT id FROM procrastinate_jobs")}
    assert not left & set(old)
    assert {young, waiting} <= left
