"""The principal behind a token is kept a few seconds per process (app/services/principal_cache.py).

What may lag is bounded: a change this process makes (or sees flushed through a session)
ends the token's entry at once; a change made elsewhere (another worker, a script running
SQL) takes effect when the window closes, and never later.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.domain.roles import Role
from app.security import Principal
from app.services.principal_cache import PrincipalCache, user_key
from tests.factories import counted_statements

ME = "/api/v1/users/me"
WINDOW = 5.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app) -> FakeClock:
    """The app's cache on a clock the test moves."""
    fake = FakeClock()
    app.state.principal_cache = PrincipalCache(WINDOW, clock=fake)
    return fake


async def _deactivate_behind_the_apps_back(connection, user) -> None:
    """What another worker or a script does: plain SQL, no session of this process."""
    await connection.execute(
        text("UPDATE app_user SET is_active = false WHERE id = :id"), {"id": user.id}
    )


async def test_a_known_token_is_not_read_again_within_the_window(
    client, connection, make_user, auth_headers, clock
):
    headers = auth_headers(await make_user(Role.MANAGER))
    with counted_statements(connection) as first:
        assert (await client.get(ME, headers=headers)).status_code == 200
    with counted_statements(connection) as again:
        assert (await client.get(ME, headers=headers)).status_code == 200
    # The first request read the caller; the second read only what the handler reads.
    assert len(again) == len(first) - 1, (first, again)


async def test_a_change_made_elsewhere_takes_effect_when_the_window_closes(
    client, connection, make_user, auth_headers, clock
):
    user = await make_user(Role.MANAGER)
    headers = auth_headers(user)
    assert (await client.get(ME, headers=headers)).status_code == 200
    await _deactivate_behind_the_apps_back(connection, user)
    clock.now += WINDOW - 0.5
    assert (await client.get(ME, headers=headers)).status_code == 200  # the stated lag
    clock.now += 0.5
    assert (await client.get(ME, headers=headers)).status_code == 401


@pytest.mark.parametrize("change", ["deactivated", "role", "password"])
async def test_a_change_flushed_in_this_process_takes_effect_at_once(
    client, session, make_user, auth_headers, clock, change
):
    user = await make_user(Role.MANAGER)
    headers = auth_headers(user)
    assert (await client.get(ME, headers=headers)).status_code == 200
    if change == "deactivated":
        user.is_active = False
    elif change == "role":
        user.role = Role.AUDITOR.value
    else:
        user.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$changed$changed"
    session.add(user)
    await session.commit()
    assert (await client.get(ME, headers=headers)).status_code == 401


async def test_a_deactivation_through_the_api_ends_the_token_at_once(
    client, make_user, auth_headers, clock
):
    admin = await make_user(Role.ADMIN)
    collector = await make_user(Role.COLLECTOR)
    headers = auth_headers(collector)
    assert (await client.get(ME, headers=headers)).status_code == 200
    read = await client.get(f"/api/v1/users/{collector.id}", headers=auth_headers(admin))
    changed = await client.patch(
        f"/api/v1/users/{collector.id}",
        json={"is_active": False},
        headers=auth_headers(admin) | {"If-Match": read.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert (await client.get(ME, headers=headers)).status_code == 401


def test_an_entry_never_outlives_its_token():
    fake = FakeClock()
    cache = PrincipalCache(WINDOW, clock=fake)
    principal = Principal(subject="s", role=Role.MANAGER)
    cache.put("token", principal, [user_key("u")], expires=time.time() + 1.0)
    assert cache.get("token") == principal
    fake.now += 1.5  # the window is 5 s, the token had 1 s left
    assert cache.get("token") is None
    cache.put("expired", principal, [], expires=time.time() - 1)
    assert cache.get("expired") is None


def test_invalidation_drops_only_the_entries_read_from_that_row():
    cache = PrincipalCache(WINDOW, clock=FakeClock())
    later = (datetime.now(UTC) + timedelta(minutes=5)).timestamp()
    one, two = Principal(subject="1", role=Role.MANAGER), Principal(subject="2", role=Role.ADMIN)
    cache.put("a", one, [user_key("1")], later)
    cache.put("b", one, [user_key("1")], later)
    cache.put("c", two, [user_key("2")], later)
    cache.invalidate([user_key("1")])
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, two)


def test_a_window_of_zero_keeps_nothing():
    cache = PrincipalCache(0)
    cache.put("t", Principal(subject="s", role=Role.ADMIN), [], time.time() + 60)
    assert cache.get("t") is None and len(cache) == 0
