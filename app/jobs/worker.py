"""The job worker: procrastinate's worker running Cartera's tasks (app/jobs/tasks.py) on the
``procrastinate_jobs`` queue in PostgreSQL.

``cartera worker`` runs one per process (``CARTERA_WORKER_CONCURRENCY`` jobs at once), and
``cartera serve`` runs one inside the API when ``CARTERA_WORKER_IN_PROCESS`` is set (the
default with the embedded database). Workers are woken by LISTEN/NOTIFY when a job is
queued (and poll as a fallback), defer the periodic tasks, send a heartbeat every 10 s, and
share the queue safely whatever their number. procrastinate talks to PostgreSQL through
psycopg on connections of its own; the tasks use the SQLAlchemy :class:`Database`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import anyio
import procrastinate.worker
from procrastinate import App, PsycopgConnector
from procrastinate.jobs import DeleteJobCondition
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.config import Settings, get_settings, to_libpq_url
from app.db import Database
from app.jobs import metrics
from app.jobs.retry import TRANSIENT
from app.jobs.tasks import Context, age_if_due, register
from app.services.workbooks import WorkbookLimits

__all__ = ["age_if_due", "job_app", "open_jobs", "run_until_empty", "run_worker"]

# Seconds between polls for jobs when no notification came (LISTEN/NOTIFY wakes workers
# as soon as a job is queued; the poll catches retries coming due).
POLL_SECONDS = 1.0


# A connection taken from procrastinate's pool is checked first (a round trip: replaced if
# the server closed it) when it has not been taken for this long; one taken a moment ago
# goes straight to its query. Should the server have gone in that moment, the query fails
# as one does when the server goes while it runs: the worker stops, its job left "doing"
# is retried as stalled (tests/reliability/test_faults.py).
CHECK_AFTER_IDLE_SECONDS = 1.0
_taken: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()


async def _autocommit(connection: AsyncConnection) -> None:
    await connection.set_autocommit(True)


async def _check_when_idle(connection: AsyncConnection) -> None:
    now = time.monotonic()
    last = _taken.get(connection)
    _taken[connection] = now
    if last is None or now - last > CHECK_AFTER_IDLE_SECONDS:
        await AsyncConnectionPool.check_connection(connection)


def _pool(**options: Any) -> AsyncConnectionPool:
    """procrastinate's pool, its check of every connection taken out (a round trip each,
    two per job) made only after the connection sat idle (see above)."""
    return AsyncConnectionPool(**{**options, "check": _check_when_idle})


def job_app(database: Database, *, periodic: bool = True, connections: int = 4) -> App:
    """An App on ``database`` (its own psycopg pool of up to ``connections``) with Cartera's
    tasks; ``periodic=False`` leaves the periodic tasks out (a worker that only drains what
    is queued)."""
    url = to_libpq_url(database.engine.url.render_as_string(hide_password=False))
    # The queue's own writes (a job fetched, finished, retried) commit without waiting for
    # the WAL flush: a PostgreSQL crash may forget the last few of them, and each is
    # recovered (a job back to "todo" runs again and finds its upload done; one left
    # "doing" is retried as stalled). A job's *queueing* is in the caller's transaction,
    # durable as the upload is (app/jobs/queue.py).
    #
    # Every query procrastinate sends is one statement (a function call), so its connections
    # are in autocommit: no BEGIN and COMMIT around each fetch and outcome. With the check
    # made only on an idle connection, a job costs procrastinate two round trips (its fetch,
    # its outcome) where it cost eight.
    app = App(connector=PsycopgConnector(
        conninfo=url, min_size=1, max_size=connections, pool_factory=_pool,
        kwargs={"options": "-c synchronous_commit=off"}, configure=_autocommit,
    ))  # fmt: skip
    return register(app, periodic=periodic)


@contextlib.asynccontextmanager
async def open_jobs(
    database: Database, *, periodic: bool = True, connections: int = 4
) -> AsyncIterator[App]:
    app = job_app(database, periodic=periodic, connections=connections)
    async with app.open_async():
        yield app


class Worker(procrastinate.worker.Worker):
    """procrastinate's worker, looking for a job again each time one ends.

    procrastinate's fetch loop stops at the first fetch that finds nothing and then waits
    for a job to be queued (NOTIFY) or for the poll interval. A job held back by its lock (a
    partner's second push while the first runs) is not queued anew when the first ends, so
    on its own it would wait for the next poll. Here the end of every job (its outcome
    recorded) wakes the loop; and a pass of the loop during which a job ended fetches again,
    since its fetch that found nothing may have looked before that end was recorded (the
    loop clears the wake-up after each fetch). ``procrastinate==3.10.*`` is pinned: these
    are its worker's own methods."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.jobs_ended = 0

    def _log_extra(self, action: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # procrastinate builds these dicts (the job's fields among them) four times a job,
        # whether or not the record is logged; at INFO and above its per-job records are not
        # (app.observability.configure_logging), and our renderer drops extras anyway.
        if not self.logger.isEnabledFor(logging.DEBUG):
            return {"action": action}
        return dict(super()._log_extra(action, *args, **kwargs))

    async def _persist_job_status(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super()._persist_job_status(*args, **kwargs)
        finally:
            self.jobs_ended += 1
            self._new_job_event.set()

    async def _fetch_and_process_jobs(self) -> None:
        while True:
            ended = self.jobs_ended
            await super()._fetch_and_process_jobs()
            if self.jobs_ended == ended or self._stop_event.is_set():
                return


async def _work(app: App, **options: Any) -> None:
    """What ``app.run_worker_async(**options)`` does, with :class:`Worker`."""
    app.perform_import_paths()
    await Worker(app=app, **{**app.worker_defaults, **options}).run()


def _options(
    database: Database, settings: Settings, workbook_limits: WorkbookLimits | None
) -> dict[str, Any]:
    TRANSIENT.configure(settings)
    limits = workbook_limits or WorkbookLimits.from_settings(settings)
    return {
        "additional_context": {"cartera": Context(database, settings, limits)},
        "install_signal_handlers": False,
        "worker_middleware": [metrics.observe_job],
        # Failed jobs stay for the operators; the upload or delivery row is the record.
        "delete_jobs": DeleteJobCondition.SUCCESSFUL,
        "stalled_worker_timeout": settings.job_stalled_seconds,
    }


async def run_worker(
    database: Database,
    *,
    stop: anyio.Event | None = None,
    settings: Settings | None = None,
    concurrency: int | None = None,
    poll_seconds: float = POLL_SECONDS,
    workbook_limits: WorkbookLimits | None = None,
    aging_zone: str | None = None,
    periodic: bool = True,
) -> None:
    """Work until ``stop`` is set (or the task is cancelled): running jobs finish first.
    ``aging_zone`` is the settings' (kept for callers that pass it); ``periodic=False``
    defers no periodic task (benchmarks)."""
    settings = settings or get_settings()
    if aging_zone is not None and aging_zone != settings.aging_time_zone:
        settings = settings.model_copy(update={"aging_time_zone": aging_zone})
    stop = stop or anyio.Event()
    concurrency = concurrency or settings.worker_concurrency
    # One connection per job's fetch and outcome, one for LISTEN, one for the heartbeat
    # and the periodic deferrer.
    async with open_jobs(database, periodic=periodic, connections=concurrency + 2) as app:
        worker = asyncio.create_task(
            _work(
                app,
                concurrency=concurrency,
                fetch_job_polling_interval=poll_seconds,
                **_options(database, settings, workbook_limits),
            )
        )
        waiting = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({worker, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if worker not in done:
            worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def run_until_empty(
    database: Database,
    settings: Settings | None = None,
    *,
    concurrency: int = 1,
    workbook_limits: WorkbookLimits | None = None,
) -> int:
    """Run the jobs due now, and those they unblock, then return how many ran (tests,
    benchmarks, scripts): no periodic tasks, no waiting for jobs queued later. (A worker
    with ``wait=False`` stops at the first fetch that finds nothing, which a job waiting
    for its lock makes happen early: it is run again until a round runs nothing.)"""
    settings = settings or get_settings()
    counter = metrics.JobCounter()
    options = _options(database, settings, workbook_limits)
    options["worker_middleware"] = [*options["worker_middleware"], counter]
    async with open_jobs(database, periodic=False, connections=concurrency + 2) as app:
        while True:
            before = counter.ran
            await _work(app, concurrency=concurrency, wait=False, listen_notify=False, **options)
            if counter.ran == before:
                return counter.ran
