"""Per-caller rate limits: a sliding-window log, pure and in-process.

A :class:`SlidingWindowLimiter` admits at most ``limit`` events per key in any window of
``window_ns`` nanoseconds: an event at ``now`` is admitted when fewer than ``limit``
admitted events of the key lie in ``(now - window, now]``. A refused event is not counted
(retrying does not push the wait further), and the refusal says how many whole seconds to
wait (``Retry-After``) before the oldest event leaves the window.

Time is an injected clock of integer nanoseconds (``time.monotonic_ns`` in the app, a
counter in tests), so the arithmetic is exact and a clock that steps back never frees a
slot early. Memory is ``limit`` timestamps per recently active key; keys whose events have
all left the window are swept once more than ``max_keys`` are held.

A :class:`SlidingWindowLimiter`'s state lives in one process: behind N workers a caller
gets up to N × ``limit`` per window from it alone, so it only sheds a flood before it reaches
the database. The limits themselves run :func:`admit` over events on record in PostgreSQL,
which holds across processes and machines: the KYC search limit over the caller's audited
searches (``app.services.kyc.take_search_slot``), the debtor portal's per-address limit over
``rate_limit_hit`` rows (``app.services.rate_limit.take_slot``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.domain.errors import RateLimited

__all__ = ["RateLimited"]  # raised here; defined with the other domain errors

NS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    # Whole seconds to wait before an event would be admitted; 0 when allowed.
    retry_after: int = 0


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ns(moment: datetime) -> int:
    """An aware moment as the integer nanoseconds :func:`admit` counts in (microsecond
    precision, as PostgreSQL keeps it)."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _ceil_seconds(nanoseconds: int) -> int:
    return -(-nanoseconds // NS_PER_SECOND)


def admit(log: deque[int], now: int, *, limit: int, window_ns: int) -> Decision:
    """Admit (and record in ``log``) an event at ``now``, or refuse it.

    ``log`` holds the key's admitted events, oldest first; those that left the window are
    dropped. An event older than the newest one recorded (a clock that stepped back) is
    counted at the newest one's time.
    """
    if limit < 1 or window_ns < 1:
        raise ValueError("limit and window must be positive")
    if log and now < log[-1]:
        now = log[-1]
    while log and log[0] <= now - window_ns:
        log.popleft()
    if len(log) < limit:
        log.append(now)
        return Decision(True)
    # The oldest event leaves the window at log[0] + window; wait at least a second.
    return Decision(False, max(1, _ceil_seconds(log[0] + window_ns - now)))


class SlidingWindowLimiter:
    """At most ``limit`` events per key in any ``window_seconds``."""

    def __init__(
        self,
        limit: int,
        *,
        window_seconds: int = 60,
        clock: Callable[[], int],
        max_keys: int = 10_000,
    ) -> None:
        if limit < 1 or window_seconds < 1 or max_keys < 1:
            raise ValueError("limit, window and max_keys must be positive")
        self.limit = limit
        self.window_ns = window_seconds * NS_PER_SECOND
        self.clock = clock
        self.max_keys = max_keys
        self._logs: dict[Hashable, deque[int]] = {}

    def take(self, key: Hashable) -> Decision:
        """Count an event of ``key`` now if the limit allows it."""
        now = self.clock()
        log = self._logs.get(key)
        if log is None:
            if len(self._logs) >= self.max_keys:
                self._sweep(now)
            log = self._logs[key] = deque()
        return admit(log, now, limit=self.limit, window_ns=self.window_ns)

    def check(self, key: Hashable) -> None:
        """:meth:`take`, raising :class:`RateLimited` when refused."""
        decision = self.take(key)
        if not decision.allowed:
            raise RateLimited(decision.retry_after)

    def __len__(self) -> int:
        return len(self._logs)

    def _sweep(self, now: int) -> None:
        """Forget keys with no event left in the window (they behave as unseen keys)."""
        expired = [k for k, log in self._logs.items() if not log or log[-1] <= now - self.window_ns]
        for key in expired:
            del self._logs[key]
