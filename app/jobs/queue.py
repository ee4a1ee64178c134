"""Putting a job on the queue (procrastinate's ``procrastinate_jobs``) from a SQLAlchemy
session, inside the caller's transaction.

procrastinate's own ``defer_async`` goes through its psycopg connector, on a connection of
its own: a job deferred there is committed whether or not the change it is about commits.
This calls the SQL function procrastinate's defer query calls (``procrastinate_defer_jobs_v1``,
created by the migration that installs its schema) on the session's connection, so an
upload and its job commit together or not at all; procrastinate's insert trigger NOTIFYs the
workers at commit. The API process needs no procrastinate connection for this.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

DEFAULT_QUEUE = "default"


class UploadBusy(Exception):
    """The upload's row is locked: another worker is processing it right now."""


_DEFER = """
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(
    CAST(:queue AS varchar), CAST(:task AS varchar), CAST(:priority AS integer),
    CAST(:lock AS text), CAST(:queueing_lock AS text), CAST(:args AS jsonb),
    CAST(NULL AS timestamptz)
)::procrastinate_job_to_defer_v1]))
"""


async def defer(
    session: AsyncSession,
    task: str,
    args: dict[str, Any],
    *,
    lock: str | None = None,
    queueing_lock: str | None = None,
    priority: int = 0,
    queue: str = DEFAULT_QUEUE,
) -> int:
    """Queue ``task`` with ``args`` in the session's transaction; the job's id. Jobs sharing
    a ``lock`` run one at a time, in the order they were queued."""
    job_id = await session.scalar(
        text(_DEFER),
        {
            "queue": queue,
            "task": task,
            "priority": priority,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": json.dumps(args),
        },
    )
    assert job_id is not None
    return int(job_id)
