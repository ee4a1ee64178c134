"""The nightly run clears what no rule reads any more: login attempts older than any lock
could look back (besides ended staff sessions, tested with refresh tokens)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, text

from app.jobs.tasks import age_if_due
from app.models.user import LoginAttempt

ZONE = "America/Mexico_City"


async def test_the_nightly_run_purges_login_attempts_too_old_to_matter(live, settings):
    _client, _add_user, database = live
    now = datetime.now(UTC)
    horizon = timedelta(minutes=settings.login_failure_window_minutes + settings.login_lock_minutes)
    today = now.astimezone(ZoneInfo(ZONE)).date()
    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("DELETE FROM aging_run WHERE as_of = :d"), {"d": today})
        old = LoginAttempt(username="night-old", address="127.0.0.1", succeeded=False,
                           attempted_at=now - horizon - timedelta(hours=1))  # fmt: skip
        recent = LoginAttempt(username="night-recent", address="127.0.0.1", succeeded=False,
                              attempted_at=now - timedelta(minutes=1))  # fmt: skip
        session.add_all([old, recent])

    assert await age_if_due(database, ZONE, settings) is True

    async with database.sessionmaker() as session:
        left = set(await session.scalars(select(LoginAttempt.username)))
    assert "night-recent" in left
    assert "night-old" not in left
