"""Helpers shared by the tests of plan quotes and the tests that build on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def next_weekday(days: int) -> str:
    """A Tuesday to Thursday at least ``days`` days from today (UTC), as ISO text."""
    day = datetime.now(UTC).date() + timedelta(days=days)
    while day.weekday() not in (1, 2, 3):
        day += timedelta(days=1)
    return day.isoformat()
