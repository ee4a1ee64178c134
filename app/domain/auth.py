"""Brute-force protection of the password grant, as a pure rule over past attempts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    succeeded: bool


def locked_until(
    attempts: Sequence[Attempt], now: datetime, policy: LockoutPolicy
) -> datetime | None:
    """When the user name may try again, or None if it may try now.

    A name is locked once ``max_failures`` failures fall inside one ``window`` with no success
    between them; the lock lasts ``lock_for`` after the failure that completed the run. Older
    attempts than ``window + lock_for`` cannot matter and may be left out by the caller.
    """
    # At one instant failures count first, so a simultaneous success never lifts a lock.
    ordered = sorted(attempts, key=lambda a: (a.at, a.succeeded))
    failures: list[datetime] = []
    lock_end: datetime | None = None
    for attempt in ordered:
        if attempt.succeeded:
            failures.clear()
            continue
        failures.append(attempt.at)
        failures = [at for at in failures if attempt.at - at < policy.window]
        if len(failures) >= policy.max_failures:
            lock_end = attempt.at + policy.lock_for
    if lock_end is not None and lock_end > now:
        return lock_end
    return None
