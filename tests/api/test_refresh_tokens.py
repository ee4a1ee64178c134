"""Staff sessions an SPA can keep: the refresh-token grant on POST /auth/token and logout.

tests/security/test_refresh_tokens.py attacks them (reuse, swapped tokens, races)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from jose import jwt
from sqlalchemy import select

from app.domain.roles import Role
from app.models.refresh_token import RefreshToken, RefreshTokenFamily
from app.services import refresh_tokens
from tests.conftest import TEST_PASSWORD
from tests.factories import assert_problem
from tests.helpers.refresh_tokens import (
    LOGOUT_URL,
    ME,
    TOKEN_URL,
    assert_invalid_grant,
    bearer,
    family_events,
    log_out,
    login,
    renew,
    sid,
)


class TestLoginStartsASession:
    async def test_a_login_answers_a_refresh_token_and_its_lifetime(
        self, client, make_user, settings
    ):
        user = await make_user(Role.COLLECTOR)
        tokens = await login(client, user)
        assert tokens["token_type"] == "bearer"
        assert tokens["expires_in"] == settings.access_token_minutes * 60
        assert len(tokens["refresh_token"]) >= 43  # 256 bits, base64url
        assert tokens["refresh_expires_in"] == settings.refresh_token_idle_hours * 3600
        assert (await client.get(ME, headers=bearer(tokens))).status_code == 200

    async def test_only_a_hash_of_the_refresh_token_is_stored_and_audited_without_it(
        self, client, make_user, session
    ):
        user = await make_user(Role.COLLECTOR)
        tokens = await login(client, user)
        family = await session.get(RefreshTokenFamily, uuid.UUID(sid(tokens)))
        assert family is not None and family.user_id == user.id
        [stored] = (
            await session.scalars(select(RefreshToken).where(RefreshToken.family_id == family.id))
        ).all()
        assert stored.token_hash == hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()
        assert stored.generation == 0
        [started] = await family_events(session, str(family.id))
        assert started.action == "refresh_token_family.started"
        assert started.actor_id == str(user.id)
        assert tokens["refresh_token"] not in str(started.before) + str(started.after)

    async def test_the_access_token_names_its_session(self, client, make_user):
        tokens = await login(client, await make_user(Role.MANAGER))
        assert uuid.UUID(sid(tokens))


class TestRefreshGrant:
    async def test_a_refresh_rotates_both_tokens_in_the_same_session(
        self, client, make_user, session
    ):
        user = await make_user(Role.COLLECTOR)
        first = await login(client, user)
        response = await renew(client, first["refresh_token"])
        assert response.status_code == 200, response.text
        second = response.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert sid(second) == sid(first)
        me = await client.get(ME, headers=bearer(second))
        assert me.status_code == 200 and me.json()["id"] == str(user.id)
        # Rotation does not end the session: the earlier access token runs to its expiry.
        assert (await client.get(ME, headers=bearer(first))).status_code == 200
        events = await family_events(session, sid(first))
        assert [e.action for e in events] == [
            "refresh_token_family.started",
            "refresh_token_family.rotated",
        ]
        assert (events[1].before, events[1].after) == ({"generation": 0}, {"generation": 1})

    async def test_a_chain_of_refreshes_keeps_the_session(self, client, make_user):
        tokens = await login(client, await make_user(Role.AUDITOR))
        for _ in range(4):
            response = await renew(client, tokens["refresh_token"])
            assert response.status_code == 200
            tokens = response.json()
        assert (await client.get(ME, headers=bearer(tokens))).status_code == 200

    async def test_the_new_access_token_carries_the_users_role_as_it_is_now(
        self, client, make_user, session
    ):
        user = await make_user(Role.COLLECTOR)
        tokens = await login(client, user)
        user.role = Role.TEAM_LEAD.value
        user.skills = []
        session.add(user)
        await session.commit()
        assert (await client.get(ME, headers=bearer(tokens))).status_code == 401
        renewed = (await renew(client, tokens["refresh_token"])).json()
        assert jwt.get_unverified_claims(renewed["access_token"])["role"] == "team_lead"
        assert (await client.get(ME, headers=bearer(renewed))).status_code == 200

    async def test_a_session_left_idle_too_long_must_log_in_again(
        self, client, make_user, clock, settings
    ):
        user = await make_user(Role.COLLECTOR)
        clock.now = datetime.now(UTC) - timedelta(
            hours=settings.refresh_token_idle_hours, minutes=1
        )
        tokens = await login(client, user)
        clock.now = None
        assert_invalid_grant(await renew(client, tokens["refresh_token"]))

    async def test_refreshing_never_takes_the_session_past_its_absolute_end(
        self, client, make_user, clock, settings
    ):
        user = await make_user(Role.COLLECTOR)
        started = datetime.now(UTC) - timedelta(days=settings.refresh_token_days, minutes=-30)
        clock.now = started
        tokens = await login(client, user)
        # Used every few hours, the session lives on, but its deadline never passes the end.
        clock.now = started
        while clock.now < datetime.now(UTC) - timedelta(hours=6):
            clock.now += timedelta(hours=6)
            response = await renew(client, tokens["refresh_token"])
            assert response.status_code == 200, clock.now
            tokens = response.json()
            end = started + timedelta(days=settings.refresh_token_days)
            assert clock.now + timedelta(seconds=tokens["refresh_expires_in"]) <= end
        clock.now = started + timedelta(days=settings.refresh_token_days)
        assert_invalid_grant(await renew(client, tokens["refresh_token"]))

    async def test_an_unknown_refresh_token_is_invalid_grant_in_english_and_spanish(self, client):
        english = await renew(client, "no-such-token")
        assert_invalid_grant(english)
        spanish = await client.post(
            TOKEN_URL,
            data={"grant_type": "refresh_token", "refresh_token": "no-such-token"},
            headers={"Accept-Language": "es-MX"},
        )
        assert_invalid_grant(spanish)
        assert spanish.json()["title"] == "Token de renovación inválido"
        assert english.json()["title"] != spanish.json()["title"]

    async def test_the_grant_needs_its_token_and_only_its_token(self, client, make_user):
        user = await make_user(Role.COLLECTOR)
        tokens = await login(client, user)
        missing = await client.post(TOKEN_URL, data={"grant_type": "refresh_token"})
        assert_problem(missing, 422, "invalid_input")
        assert [e["field"] for e in missing.json()["errors"]] == ["body.refresh_token"]
        mixed = await client.post(
            TOKEN_URL,
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "username": user.username,
            },
        )
        assert_problem(mixed, 422, "invalid_input")
        assert [e["field"] for e in mixed.json()["errors"]] == ["body.username"]
        stray = await client.post(
            TOKEN_URL,
            data={
                "username": user.username,
                "password": TEST_PASSWORD,
                "refresh_token": tokens["refresh_token"],
            },
        )
        assert_problem(stray, 422, "invalid_input")
        # Refused requests spent nothing: the token still renews the session.
        assert (await renew(client, tokens["refresh_token"])).status_code == 200

    async def test_other_grant_types_are_a_validation_problem(self, client):
        response = await client.post(
            TOKEN_URL, data={"grant_type": "client_credentials", "refresh_token": "x"}
        )
        assert_problem(response, 422, "validation_failed")
        assert response.json()["errors"][0]["field"] == "body.grant_type"


class TestLogout:
    async def test_logout_ends_the_refresh_and_access_tokens_of_the_session(
        self, client, make_user, session
    ):
        user = await make_user(Role.COLLECTOR)
        tokens = await login(client, user)
        response = await log_out(client, tokens["refresh_token"])
        assert response.status_code == 204 and response.content == b""
        assert_invalid_grant(await renew(client, tokens["refresh_token"]))
        refused = await client.get(ME, headers=bearer(tokens))
        assert_problem(refused, 401, "not_authenticated")
        assert refused.headers["content-type"] == "application/problem+json"
        events = await family_events(session, sid(tokens))
        assert events[-1].action == "refresh_token_family.revoked"
        assert events[-1].after == {"reason": "logout"}
        assert events[-1].actor_id == str(user.id)

    async def test_other_sessions_of_the_user_go_on(self, client, make_user):
        user = await make_user(Role.COLLECTOR)
        desk, phone = await login(client, user), await login(client, user)
        assert sid(desk) != sid(phone)
        assert (await log_out(client, desk["refresh_token"])).status_code == 204
        assert (await client.get(ME, headers=bearer(phone))).status_code == 200
        assert (await renew(client, phone["refresh_token"])).status_code == 200

    async def test_logout_says_nothing_about_the_token_and_records_once(
        self, client, make_user, session
    ):
        assert (await log_out(client, "never-issued")).status_code == 204
        tokens = await login(client, await make_user(Role.COLLECTOR))
        for _ in range(2):
            assert (await log_out(client, tokens["refresh_token"])).status_code == 204
        revoked = [
            e for e in await family_events(session, sid(tokens)) if e.action.endswith(".revoked")
        ]
        assert len(revoked) == 1

    async def test_logout_needs_the_refresh_token(self, client):
        response = await client.post(LOGOUT_URL, data={})
        assert_problem(response, 422, "validation_failed")
        assert [e["field"] for e in response.json()["errors"]] == ["body.refresh_token"]


class TestUserChangesEndSessions:
    async def test_a_new_password_ends_every_session_of_the_user(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        user = await make_user(Role.COLLECTOR)
        sessions = [await login(client, user), await login(client, user)]
        changed = await client.patch(
            f"/api/v1/users/{user.id}",
            json={"password": "another-long-password-1"},
            headers=auth_headers(admin),
        )
        assert changed.status_code == 200, changed.text
        for tokens in sessions:
            assert_invalid_grant(await renew(client, tokens["refresh_token"]))
            events = await family_events(session, sid(tokens))
            assert events[-1].after == {"reason": "password_changed"}
            assert events[-1].actor_id == str(admin.id)
        relogin = await client.post(
            TOKEN_URL, data={"username": user.username, "password": "another-long-password-1"}
        )
        assert relogin.status_code == 200

    async def test_deactivation_ends_every_session_of_the_user(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        user = await make_user(Role.COLLECTOR)
        tokens = await login(client, user)
        response = await client.delete(f"/api/v1/users/{user.id}", headers=auth_headers(admin))
        assert response.status_code == 204
        assert_invalid_grant(await renew(client, tokens["refresh_token"]))
        events = await family_events(session, sid(tokens))
        assert events[-1].after == {"reason": "deactivated"}

    async def test_other_changes_leave_sessions_alone(self, client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        user = await make_user(Role.COLLECTOR)
        tokens = await login(client, user)
        response = await client.patch(
            f"/api/v1/users/{user.id}",
            json={"full_name": "Otro Nombre"},
            headers=auth_headers(admin),
        )
        assert response.status_code == 200
        assert (await renew(client, tokens["refresh_token"])).status_code == 200


class TestPurge:
    async def test_the_nightly_purge_deletes_families_ended_over_a_day_ago(
        self, client, make_user, session, clock, settings
    ):
        user = await make_user(Role.COLLECTOR)
        now = datetime.now(UTC)
        clock.now = now - timedelta(days=settings.refresh_token_days + 2)
        expired = await login(client, user)
        clock.now = None
        logged_out, ended_today, live = [await login(client, user) for _ in range(3)]
        await log_out(client, logged_out["refresh_token"])
        await log_out(client, ended_today["refresh_token"])
        gone = await session.get(RefreshTokenFamily, uuid.UUID(sid(logged_out)))
        assert gone is not None
        gone.revoked_at = now - timedelta(days=2)
        session.add(gone)
        await session.commit()

        assert await refresh_tokens.purge(session, now) == 2
        await session.commit()
        session.expunge_all()
        kept = set(
            (
                await session.scalars(
                    select(RefreshTokenFamily.id).where(RefreshTokenFamily.user_id == user.id)
                )
            ).all()
        )
        assert kept == {uuid.UUID(sid(ended_today)), uuid.UUID(sid(live))}
        hashes = (
            await session.scalars(
                select(RefreshToken.family_id).where(
                    RefreshToken.family_id.in_(
                        [uuid.UUID(sid(expired)), uuid.UUID(sid(logged_out))]
                    )
                )
            )
        ).all()
        assert hashes == []
        # A purged session's tokens are unknown, its access tokens refused.
        assert_invalid_grant(await renew(client, logged_out["refresh_token"]))
        assert (await client.get(ME, headers=bearer(logged_out))).status_code == 401
        assert (await renew(client, live["refresh_token"])).status_code == 200
