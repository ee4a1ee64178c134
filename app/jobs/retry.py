"""Which job failures are worth another try, and when.

A job is retried only for a *transient* failure: the database connection lost or refused,
the server shutting down or out of connections, a serialization failure or deadlock (a
concurrent transaction won), or an upload another worker is still holding. Anything else (a
file that cannot be read, a rule refused, a bug) fails the same way the next time, so it is
not retried: the job records the failure where the API shows it.

The wait before try ``n + 1`` is ``base × 2^(n − 1)`` seconds, capped: 2, 4, 8, 16 s with the
defaults (``CARTERA_JOB_RETRY_BASE_SECONDS``, ``…_CAP_SECONDS``, ``CARTERA_JOB_MAX_ATTEMPTS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job
from sqlalchemy.exc import DBAPIError

from app.config import Settings
from app.db import DatabaseUnreachable
from app.jobs.queue import UploadBusy

# SQLSTATEs of a failure that is not the job's: connection exceptions (class 08), a
# serialization failure, a deadlock, the server shutting down or restarting (57P01-03),
# out of connections (53300), a lock not available (55P03).
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "53300", "55P03"})


class GivenUp(Exception):
    """The job failed for good; what failed is recorded where the API shows it."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _sqlstate(exc: BaseException) -> str | None:
    for attribute in ("sqlstate", "pgcode"):
        value = getattr(exc, attribute, None)
        if isinstance(value, str):
            return value
    return None


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a failure another try may not meet."""
    if isinstance(exc, GivenUp):
        return False
    for link in _chain(exc):
        if isinstance(link, UploadBusy | DatabaseUnreachable | ConnectionError | TimeoutError):
            return True
        if isinstance(link, DBAPIError) and link.connection_invalidated:
            return True
        state = _sqlstate(link)
        if state is not None and (state.startswith("08") or state in TRANSIENT_SQLSTATES):
            return True
    return False


@dataclass(slots=True)
class TransientRetry(BaseRetryStrategy):
    """procrastinate's retry strategy for Cartera's jobs: transient failures only, with
    exponential backoff. Its bounds are the settings' (:meth:`configure`)."""

    max_attempts: int = 5
    base_seconds: float = 2.0
    cap_seconds: float = 300.0

    def configure(self, settings: Settings) -> None:
        self.max_attempts = settings.job_max_attempts
        self.base_seconds = settings.job_retry_base_seconds
        self.cap_seconds = settings.job_retry_cap_seconds

    def wait_after(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed try (1 for the first)."""
        return float(min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0)))

    def will_retry(self, exc: BaseException, job: Job) -> bool:
        # job.attempts counts the tries before this one.
        return is_transient(exc) and job.attempts + 1 < self.max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not self.will_retry(exception, job):
            return None
        wait = timedelta(seconds=self.wait_after(job.attempts + 1))
        return RetryDecision(retry_at=datetime.now(UTC) + wait)


TRANSIENT = TransientRetry()
