"""Cartera's background work as procrastinate tasks.

Queued by the API (in the transaction that accepts the upload, app/jobs/queue.py):

- ``cartera.push``: one assignment push (lock ``assignment:<partner>``: a partner's pushes
  one at a time, in the order sent);
- ``cartera.payment_file``: one payment file or SPEI statement (lock
  ``payment_file:<partner>``).

Periodic (deferred by every worker's periodic deferrer; the database keeps one job per tick
whatever the number of workers, and a queueing lock keeps at most one waiting):

- ``cartera.webhooks`` every 2 s: delivers the webhook deliveries that are due. The
  ``webhook_delivery`` table stays the record and the schedule (each delivery's own
  exponential backoff, ``next_attempt_at``), claimed with SKIP LOCKED as before; a job per
  delivery would keep a second schedule beside it and need every statement that emits events
  (set-based CTEs among them) to queue jobs too.
- ``cartera.aging`` every minute: the nightly aging with the promise and plan follow-ups and
  the purge of ended staff sessions, once per business date of ``CARTERA_AGING_TIME_ZONE``
  (a minute after midnight there, or at the first tick after a worker was down).
- ``cartera.documents_sweep`` hourly: unreferenced document bytes.
- ``cartera.requeue_lost`` every minute: uploads waiting with no job (see
  :func:`app.services.uploads.requeue_lost`).
- ``cartera.retry_stalled`` every minute: jobs left running by a worker that stopped sending
  heartbeats (killed, or cut off from the database) are queued again.

Tasks read the database, the settings and the workbook bounds from the worker's context
(:func:`app.jobs.worker.job_app`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from procrastinate import App, JobContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, get_settings
from app.db import Database
from app.jobs.retry import TRANSIENT, GivenUp
from app.services import (
    aging,
    assignments,
    auth,
    documents,
    payment_files,
    plans,
    promises,
    refresh_tokens,
    uploads,
    webhooks,
)
from app.services.workbooks import WorkbookLimits

log = structlog.get_logger("cartera.jobs")


# Uploads submitted this long ago and still without a job are queued again.
LOST_AFTER = timedelta(minutes=1)
# Deliveries attempted by one turn of the webhook job before it ends (the next tick goes on).
DELIVERIES_PER_JOB = 200
# Unreferenced document bytes younger than this are spared (an upload may be under way).
DOCUMENTS_OLDER_THAN = timedelta(minutes=60)


@dataclass(frozen=True, slots=True)
class Context:
    database: Database
    settings: Settings
    workbook_limits: WorkbookLimits


def _context(context: JobContext) -> Context:
    found = context.additional_context["cartera"]
    assert isinstance(found, Context)
    return found


# ---------------------------------------------------------------------------------------
# Uploads


@dataclass(frozen=True, slots=True)
class _Upload:
    name: str
    start: Callable[[Database, uuid.UUID, datetime], Awaitable[bool]]
    # (session, id, workbook_limits=…, progress=…)
    process: Callable[..., Awaitable[Any]]
    mark_failed: Callable[[AsyncSession, uuid.UUID, Exception], Awaitable[None]]


_PUSH = _Upload("assignment", assignments.start_job, assignments.process_assignment,
                assignments.mark_failed)  # fmt: skip
_PAYMENT_FILE = _Upload("payment_file", payment_files.start_job, payment_files.process_file,
                        payment_files.mark_failed)  # fmt: skip


async def run_upload(context: JobContext, job: _Upload, upload_id: str) -> str:
    """Start, then process one upload in a transaction that holds its row lock. A transient
    failure leaves it ``processing`` for the retry (procrastinate's, with backoff); any
    other failure, or the last try, marks it failed (the partner sees why) and ends the job
    failed."""
    ours = _context(context)
    database = ours.database
    uid = uuid.UUID(upload_id)
    go = await job.start(database, uid, datetime.now(UTC))
    if not go:
        return "nothing to do"
    try:
        async with database.sessionmaker() as session, session.begin():
            done = await job.process(
                session,
                uid,
                workbook_limits=ours.workbook_limits,
                progress=uploads.ProgressWriter(database, uid),
            )
    except Exception as exc:
        if TRANSIENT.will_retry(exc, context.job):
            log.warning(f"{job.name} interrupted; retried", id=upload_id, error=type(exc).__name__)
            raise
        log.exception(f"{job.name} failed", id=upload_id)
        async with database.sessionmaker() as session, session.begin():
            await job.mark_failed(session, uid, exc)
        raise GivenUp(f"{job.name} {upload_id}") from exc
    log.info(f"{job.name} processed", id=upload_id, status=done.status, received=done.received)
    return str(done.status)


async def process_push(context: JobContext, upload_id: str) -> str:
    return await run_upload(context, _PUSH, upload_id)


async def process_payment_file(context: JobContext, upload_id: str) -> str:
    return await run_upload(context, _PAYMENT_FILE, upload_id)


# ---------------------------------------------------------------------------------------
# Periodic


async def webhooks_due(context: JobContext, timestamp: int) -> int:
    ours = _context(context)
    return await webhooks.deliver_due(
        ours.database,
        ours.settings,
        at_most=DELIVERIES_PER_JOB,
        lanes=ours.settings.worker_concurrency,
    )


async def age_if_due(database: Database, zone: str, settings: Settings | None = None) -> bool:
    """Run aging and the promise follow-up for today's business date once (the nightly
    run), with the purge of ended staff sessions and of login attempts too old to matter;
    True when it ran."""
    settings = settings or get_settings()
    today = datetime.now(ZoneInfo(zone)).date()
    async with database.sessionmaker() as session, session.begin():
        # Checked under the aging lock, so workers waking together run it once.
        await aging.take_aging_lock(session)
        done = await session.scalar(text("SELECT 1 FROM aging_run WHERE as_of = :d"), {"d": today})
        if done:
            return False
        result = await aging.age_accounts(session, today)
        # Promises due by the new day are resolved with it (kept, partially kept, broken).
        await promises.follow_up(session, today)
        await plans.follow_up_plans(session, today)
        sessions_purged = await refresh_tokens.purge(session, datetime.now(UTC))
        attempts_purged = await auth.purge_login_attempts(session, settings, datetime.now(UTC))
    log.info(
        "aging run",
        as_of=today.isoformat(),
        accounts_aged=result.accounts_aged,
        stage_changes=result.stage_changes,
        sessions_purged=sessions_purged,
        login_attempts_purged=attempts_purged,
    )
    return True


async def aging_due(context: JobContext, timestamp: int) -> bool:
    ours = _context(context)
    return await age_if_due(ours.database, ours.settings.aging_time_zone, ours.settings)


async def documents_sweep(context: JobContext, timestamp: int) -> int:
    ours = _context(context)
    async with ours.database.sessionmaker() as session, session.begin():
        result = await documents.sweep_orphans(
            session,
            ours.settings.data_dir,
            older_than=DOCUMENTS_OLDER_THAN,
            now=datetime.now(UTC),
        )
    log.info("documents sweep", blobs_deleted=result.blobs_deleted)
    return int(result.blobs_deleted)


async def requeue_lost_uploads(database: Database, waited: timedelta) -> list[uuid.UUID]:
    """Queue a job again for every push and payment file left waiting without one."""
    async with database.sessionmaker() as session, session.begin():
        lost = await uploads.requeue_lost(session, uploads.ASSIGNMENTS, waited)
        lost += await uploads.requeue_lost(session, uploads.PAYMENT_FILES, waited)
    if lost:
        log.warning("uploads without a job queued again", ids=[str(u) for u in lost])
    return lost


async def requeue_lost(context: JobContext, timestamp: int) -> int:
    ours = _context(context)
    return len(await requeue_lost_uploads(ours.database, LOST_AFTER))


async def retry_stalled_jobs(app: App, seconds_since_heartbeat: float) -> list[int]:
    """Queue again the jobs whose worker stopped sending heartbeats; their ids."""
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=seconds_since_heartbeat
    )
    retried: list[int] = []
    for job in stalled:
        assert job.id is not None
        await app.job_manager.retry_job(job)
        retried.append(job.id)
    if retried:
        log.warning("stalled jobs queued again", ids=retried)
    return retried


async def retry_stalled(context: JobContext, timestamp: int) -> int:
    ours = _context(context)
    return len(await retry_stalled_jobs(context.app, ours.settings.job_stalled_seconds))


# Jobs that failed, were cancelled or aborted stay this long for the operators to look into
# (the upload or delivery row keeps its outcome for good), then go with their events.
FINISHED_JOBS_KEPT = timedelta(days=30)


async def prune_finished_jobs(app: App, kept: timedelta = FINISHED_JOBS_KEPT) -> None:
    """Remove the jobs that ended longer than ``kept`` ago, whatever their outcome (the
    successful ones are deleted as they end)."""
    await app.job_manager.delete_old_jobs(
        nb_hours=max(1, int(kept.total_seconds() // 3600)),
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )


async def prune_jobs(context: JobContext, timestamp: int) -> int:
    await prune_finished_jobs(context.app)
    return 0


# (name, cron, function) of the periodic tasks; each keeps at most one job waiting.
PERIODIC: tuple[tuple[str, str, Callable[..., Awaitable[Any]]], ...] = (
    ("cartera.webhooks", "* * * * * */2", webhooks_due),
    ("cartera.aging", "* * * * *", aging_due),
    ("cartera.documents_sweep", "17 * * * *", documents_sweep),
    ("cartera.requeue_lost", "* * * * *", requeue_lost),
    ("cartera.retry_stalled", "* * * * *", retry_stalled),
    ("cartera.prune_jobs", "41 3 * * *", prune_jobs),
)


def register(app: App, *, periodic: bool = True) -> App:
    """Register Cartera's tasks on ``app`` (each App its own Task objects, bound to it);
    ``periodic=False`` leaves the schedule out (the periodic tasks can still run when
    queued)."""
    app.task(name=uploads.ASSIGNMENTS.task, pass_context=True, retry=TRANSIENT)(process_push)
    app.task(name=uploads.PAYMENT_FILES.task, pass_context=True, retry=TRANSIENT)(
        process_payment_file
    )
    for name, cron, function in PERIODIC:
        task = app.task(name=name, pass_context=True, queueing_lock=name, retry=TRANSIENT)(function)
        if periodic:
            app.periodic(cron=cron, periodic_id=name)(task)
    return app
