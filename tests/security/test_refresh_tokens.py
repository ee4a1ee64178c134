"""Attacks on staff sessions: a copied refresh token replayed, tokens used in each other's
place, a session used after it ended, and two refreshes racing with one token.

The grant itself is tests/api/test_refresh_tokens.py; the rules are
tests/domain/test_refresh_tokens.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from app.domain.roles import Role
from app.locks import AUDIT_CHAIN
from app.models.audit import AuditEvent
from app.models.refresh_token import RefreshTokenFamily
from app.security import hash_secret_now
from app.services.auth import staff_token
from tests.conftest import TEST_PASSWORD, bearer_for
from tests.factories import assert_problem
from tests.helpers.auth import make_partner_client, request_client_token
from tests.helpers.refresh_tokens import (
    ME,
    assert_invalid_grant,
    bearer,
    family_events,
    log_out,
    login,
    renew,
    sid,
)
from tests.integration.conftest import committed_url, live  # noqa: F401  (fixtures)

STAFF_TARGETS = [ME, "/api/v1/accounts", "/api/v1/teams"]


async def assert_access_refused(client, tokens: dict) -> None:
    for path in STAFF_TARGETS:
        response = await client.get(path, headers=bearer(tokens))
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["content-type"] == "application/problem+json"


class TestReuse:
    async def test_a_replayed_refresh_token_revokes_the_whole_family_and_is_audited(
        self, client, make_user, session
    ):
        """The attacker copied the first refresh token; the user refreshed with it already.
        The replay ends the family: the user's newer tokens die too, and both are told to
        log in again."""
        user = await make_user(Role.COLLECTOR)
        stolen = await login(client, user)
        users_next = (await renew(client, stolen["refresh_token"])).json()

        assert_invalid_grant(await renew(client, stolen["refresh_token"]))

        assert_invalid_grant(await renew(client, users_next["refresh_token"]))
        await assert_access_refused(client, users_next)
        await assert_access_refused(client, stolen)
        events = await family_events(session, sid(stolen))
        assert [e.action for e in events] == [
            "refresh_token_family.started",
            "refresh_token_family.rotated",
            "refresh_token_family.reuse_detected",
            "refresh_token_family.revoked",
        ]
        assert events[2].after == {"presented": 0, "live": 1}
        assert events[3].after == {"reason": "reuse"}
        for event in events:
            text = str(event.before) + str(event.after)
            assert stolen["refresh_token"] not in text
            assert users_next["refresh_token"] not in text
        family = await session.get(RefreshTokenFamily, events[0].entity_id)
        assert family is not None and family.revoked_reason == "reuse"

    async def test_the_attacker_refreshing_first_is_caught_when_the_user_does(
        self, client, make_user
    ):
        user = await make_user(Role.MANAGER)
        tokens = await login(client, user)
        attackers = (await renew(client, tokens["refresh_token"])).json()
        assert_invalid_grant(await renew(client, tokens["refresh_token"]))  # the user, later
        assert_invalid_grant(await renew(client, attackers["refresh_token"]))
        await assert_access_refused(client, attackers)

    async def test_a_replayed_token_never_works_again_even_after_a_new_login(
        self, client, make_user
    ):
        user = await make_user(Role.COLLECTOR)
        old = await login(client, user)
        await renew(client, old["refresh_token"])
        assert_invalid_grant(await renew(client, old["refresh_token"]))
        fresh = await login(client, user)
        assert_invalid_grant(await renew(client, old["refresh_token"]))
        assert (await renew(client, fresh["refresh_token"])).status_code == 200


class TestEndedSessions:
    async def test_refresh_after_logout_is_401(self, client, make_user):
        tokens = await login(client, await make_user(Role.COLLECTOR))
        assert (await log_out(client, tokens["refresh_token"])).status_code == 204
        assert_invalid_grant(await renew(client, tokens["refresh_token"]))
        await assert_access_refused(client, tokens)

    async def test_logout_with_an_older_token_of_the_session_ends_it_too(self, client, make_user):
        tokens = await login(client, await make_user(Role.COLLECTOR))
        current = (await renew(client, tokens["refresh_token"])).json()
        assert (await log_out(client, tokens["refresh_token"])).status_code == 204
        assert_invalid_grant(await renew(client, current["refresh_token"]))
        await assert_access_refused(client, current)

    async def test_refresh_after_a_password_change_is_401_even_one_made_outside_the_api(
        self, client, make_user, session
    ):
        user = await make_user(Role.COLLECTOR)
        tokens = await login(client, user)
        user.password_hash = hash_secret_now("changed-by-a-script-1")
        session.add(user)
        await session.commit()
        assert_invalid_grant(await renew(client, tokens["refresh_token"]))
        await assert_access_refused(client, tokens)
        events = await family_events(session, sid(tokens))
        assert events[-1].after == {"reason": "password_changed"}

    async def test_refresh_after_deactivation_is_401_even_one_made_outside_the_api(
        self, client, make_user, session
    ):
        user = await make_user(Role.TEAM_LEAD)
        tokens = await login(client, user)
        user.is_active = False
        session.add(user)
        await session.commit()
        assert_invalid_grant(await renew(client, tokens["refresh_token"]))
        events = await family_events(session, sid(tokens))
        assert events[-1].after == {"reason": "deactivated"}
        # Reactivated, the user logs in again: the old session stays ended.
        user.is_active = True
        session.add(user)
        await session.commit()
        assert_invalid_grant(await renew(client, tokens["refresh_token"]))


class TestSwappedTokens:
    async def test_a_refresh_token_used_as_a_bearer_access_token_is_401(self, client, make_user):
        tokens = await login(client, await make_user(Role.ADMIN))
        swapped = {"access_token": tokens["refresh_token"]}
        await assert_access_refused(client, swapped)
        response = await client.get(ME, headers=bearer(swapped))
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_an_access_token_used_as_a_refresh_token_is_invalid_grant(
        self, client, make_user, session
    ):
        tokens = await login(client, await make_user(Role.ADMIN))
        assert_invalid_grant(await renew(client, tokens["access_token"]))
        # Nothing was spent or revoked by the attempt.
        assert (await renew(client, tokens["refresh_token"])).status_code == 200

    async def test_a_partner_system_gets_no_refresh_token_and_cannot_use_the_grant(
        self, client, session
    ):
        _, partner_client = await make_partner_client(session)
        response = await request_client_token(client, partner_client.client_id, "s3cret-s3cret")
        assert response.status_code == 200
        assert "refresh_token" not in response.json()
        refused = await client.post(
            "/api/v1/auth/client-token",
            data={"grant_type": "refresh_token", "refresh_token": response.json()["access_token"]},
        )
        assert_problem(refused, 422, "validation_failed")

    async def test_a_forged_sid_of_another_users_session_is_refused(
        self, client, make_user, settings
    ):
        """Even with the signing key: a token naming another user's session is refused,
        so no session id can stand in for another's."""
        victim, intruder = await make_user(Role.COLLECTOR), await make_user(Role.COLLECTOR)
        victims = await login(client, victim)
        mine = await login(client, intruder)
        forged = staff_token(settings, intruder, datetime.now(UTC), sid=sid(victims))
        response = await client.get(ME, headers={"Authorization": f"Bearer {forged.access_token}"})
        assert_problem(response, 401, "not_authenticated")
        assert (await client.get(ME, headers=bearer(mine))).status_code == 200


async def test_two_refreshes_racing_with_one_token_let_exactly_one_through(live):  # noqa: F811
    """Real connections and committed rows: both requests find the token, they queue on the
    family's row lock, and the second finds its token spent (reuse)."""
    client, add_user, database = live
    user = await add_user(Role.COLLECTOR)
    response = await client.post(
        "/api/v1/auth/token", data={"username": user.username, "password": TEST_PASSWORD}
    )
    tokens = response.json()
    racing = await asyncio.gather(*(renew(client, tokens["refresh_token"]) for _ in range(2)))
    assert sorted(r.status_code for r in racing) == [200, 401]
    [loser] = [r for r in racing if r.status_code == 401]
    assert loser.json()["code"] == "invalid_grant"
    async with database.sessionmaker() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity_id == sid(tokens))
                .order_by(AuditEvent.seq)
            )
        ).all()
    assert actions == [
        "refresh_token_family.started",
        "refresh_token_family.rotated",
        "refresh_token_family.reuse_detected",
        "refresh_token_family.revoked",
    ]


async def test_a_new_password_waits_for_a_refresh_in_flight_without_deadlock(live, settings):  # noqa: F811
    """A refresh locks its session's row, then appends to the audit chain; a new password
    must take the same two locks in the same order, or the two deadlock. Here a refresh is
    held between its two steps while the password changes: the change must wait for it and
    then succeed."""
    client, add_user, database = live
    admin, user = await add_user(Role.ADMIN), await add_user(Role.COLLECTOR)
    response = await client.post(
        "/api/v1/auth/token", data={"username": user.username, "password": TEST_PASSWORD}
    )
    tokens = response.json()
    async with database.sessionmaker() as refresh, refresh.begin():
        await refresh.execute(
            select(RefreshTokenFamily.id)
            .where(RefreshTokenFamily.id == sid(tokens))
            .with_for_update()
        )
        change = asyncio.create_task(
            client.patch(
                f"/api/v1/users/{user.id}",
                json={"password": "a-new-long-password-1"},
                headers=bearer_for(settings, admin),
            )
        )
        # Until the change (after hashing the new password) waits on the session's row.
        for _ in range(600):
            await asyncio.sleep(0.05)
            waiting = await refresh.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                break
        else:
            pytest.fail("the password change never reached the session's lock")
        await refresh.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN})
    changed = await change
    assert changed.status_code == 200, changed.text
    assert_invalid_grant(await renew(client, tokens["refresh_token"]))
