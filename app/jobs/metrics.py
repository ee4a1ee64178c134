"""Job metrics for Prometheus (prometheus_client).

Measured as jobs run (every worker installs :func:`observe_job` as procrastinate worker
middleware):

- ``cartera_job_duration_seconds{task}``: histogram of each job's run time;
- ``cartera_job_failures_total{task}``: jobs that ended with an error (a try that will be
  retried counts too: a transient failure is still a failure to watch).

Read at scrape time from ``procrastinate_jobs`` by :class:`QueueCollector`:

- ``cartera_job_queue_depth{task}``: jobs waiting (``todo``), due now or later;
- ``cartera_job_oldest_waiting_seconds{task}``: age of the oldest job due and waiting.

:func:`register` adds them to every /metrics answer (the API's and the worker's port): a
scrape hook reads the rows on the process's own database before the scrape, and the
collector reports the rows last read. :func:`engine_reader` reads them on a synchronous
engine instead (tests, scripts). The
histogram and counter live in the default registry of the worker's process (in
multiprocess mode, prometheus_client aggregates them through ``PROMETHEUS_MULTIPROC_DIR``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.db import Database
from app.observability import add_collector, add_scrape_hook

JOB_DURATION = Histogram(
    "cartera_job_duration_seconds",
    "Run time of background jobs, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
JOB_FAILURES = Counter(
    "cartera_job_failures_total", "Background jobs that ended with an error, by task.", ["task"]
)


async def observe_job(call_next: Callable[[], Any], context: Any, worker: Any) -> Any:
    """procrastinate worker middleware: time the job, count it when it fails."""
    task = context.job.task_name
    started = time.perf_counter()
    try:
        return await call_next()
    except BaseException:
        JOB_FAILURES.labels(task=task).inc()
        raise
    finally:
        JOB_DURATION.labels(task=task).observe(time.perf_counter() - started)


class JobCounter:
    """Worker middleware that counts the jobs a worker ran (tests, benchmarks)."""

    def __init__(self) -> None:
        self.ran = 0

    async def __call__(self, call_next: Callable[[], Any], context: Any, worker: Any) -> Any:
        self.ran += 1
        return await call_next()


@dataclass(frozen=True, slots=True)
class QueueRow:
    task: str
    waiting: int
    oldest_waiting_seconds: float


QUEUE_SQL = """
SELECT task_name,
       count(*) AS waiting,
       coalesce(extract(epoch FROM now() - min(coalesce(scheduled_at, e.at))
                        FILTER (WHERE coalesce(scheduled_at, e.at) <= now())), 0) AS oldest
FROM procrastinate_jobs j
LEFT JOIN LATERAL (
    SELECT min(at) AS at FROM procrastinate_events
    WHERE job_id = j.id AND type = 'deferred'
) e ON TRUE
WHERE status = 'todo'
GROUP BY task_name
ORDER BY task_name
"""


def queue_rows(rows: Iterable[Any]) -> list[QueueRow]:
    return [QueueRow(str(r[0]), int(r[1]), float(r[2])) for r in rows]


def engine_reader(engine: Engine) -> Callable[[], list[QueueRow]]:
    """A reader of :data:`QUEUE_SQL` on a synchronous engine, for :class:`QueueCollector`."""

    def read() -> list[QueueRow]:
        with engine.connect() as connection:
            return queue_rows(connection.execute(text(QUEUE_SQL)))

    return read


class QueueCollector(Collector):
    """Queue depth and age of the oldest waiting job per task, read at scrape time."""

    def __init__(self, read: Callable[[], Iterable[QueueRow]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "cartera_job_queue_depth", "Jobs waiting in the queue, by task.", labels=["task"]
        )
        oldest = GaugeMetricFamily(
            "cartera_job_oldest_waiting_seconds",
            "Age of the oldest job due and waiting, by task.",
            labels=["task"],
        )
        for row in self.read():
            depth.add_metric([row.task], row.waiting)
            oldest.add_metric([row.task], row.oldest_waiting_seconds)
        yield depth
        yield oldest


# The rows the last scrape hook read: a scrape reports what its own hook has just read.
_last_read: list[QueueRow] = []


async def read_queue(database: Database) -> None:
    """Scrape hook: read the queue's depth and age per task."""
    async with database.sessionmaker() as session:
        _last_read[:] = queue_rows(await session.execute(text(QUEUE_SQL)))


QUEUE_COLLECTOR = QueueCollector(lambda: list(_last_read))


def register() -> None:
    """Include the queue's depth and age in every /metrics answer of this process."""
    add_collector(QUEUE_COLLECTOR)
    add_scrape_hook(read_queue)
