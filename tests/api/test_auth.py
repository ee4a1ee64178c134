"""The two OAuth2 grants, token verification and the brute-force lockout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt
from sqlalchemy import func, select

from app.domain.roles import Role
from app.models.user import LoginAttempt
from app.security import issue_token
from app.services.auth import credentials_fingerprint, purge_login_attempts
from tests.conftest import TEST_PASSWORD, bearer_for
from tests.factories import assert_problem
from tests.helpers.auth import CLIENT_TOKEN_URL, make_partner_client, request_client_token

TOKEN_URL = "/api/v1/auth/token"


async def login(client, username: str, password: str):
    return await client.post(TOKEN_URL, data={"username": username, "password": password})


class TestPasswordGrant:
    async def test_valid_login_returns_a_bearer_token_with_the_documented_claims(
        self, client, make_user, settings
    ):
        user = await make_user(Role.MANAGER)
        response = await login(client, user.username, TEST_PASSWORD)
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == settings.access_token_minutes * 60
        claims = jwt.get_unverified_claims(body["access_token"])
        assert claims["sub"] == str(user.id)
        assert claims["role"] == "manager"
        assert claims["exp"] - claims["iat"] == settings.access_token_minutes * 60
        assert claims["jti"]
        me = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200 and me.json()["id"] == str(user.id)

    async def test_user_name_is_case_insensitive(self, client, make_user):
        user = await make_user(Role.AUDITOR)
        response = await login(client, user.username.upper(), TEST_PASSWORD)
        assert response.status_code == 200

    async def test_wrong_password_and_unknown_user_get_the_same_answer(self, client, make_user):
        user = await make_user(Role.COLLECTOR)
        wrong = await login(client, user.username, "not-the-password")
        unknown = await login(client, "nobody-by-this-name", "not-the-password")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.headers["content-type"] == "application/problem+json"

        def stable(body: dict) -> dict:
            return {k: v for k, v in body.items() if k != "request_id"}

        assert stable(wrong.json()) == stable(unknown.json())
        assert wrong.json()["code"] == "invalid_credentials"

    async def test_deactivated_user_cannot_log_in(self, client, make_user):
        user = await make_user(Role.COLLECTOR, is_active=False)
        response = await login(client, user.username, TEST_PASSWORD)
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"

    async def test_missing_form_fields_are_a_validation_problem(self, client):
        response = await client.post(TOKEN_URL, data={"username": "x"})
        assert_problem(response, 422, "invalid_input")
        fields = {e["field"] for e in response.json()["errors"]}
        assert "body.password" in fields

    async def test_failed_attempts_are_kept_although_the_request_fails(
        self, client, make_user, session
    ):
        user = await make_user(Role.COLLECTOR)
        await login(client, user.username, "wrong-one")
        count = await session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.username == user.username, LoginAttempt.succeeded.is_(False))
        )
        assert count == 1


class TestLockout:
    async def test_five_failures_lock_the_name_from_that_address_even_for_the_right_password(
        self, client, make_user, settings
    ):
        user = await make_user(Role.COLLECTOR)
        for _ in range(settings.login_max_failures):
            assert (await login(client, user.username, "wrong-password")).status_code == 401
        locked = await login(client, user.username, TEST_PASSWORD)
        assert locked.status_code == 429
        assert locked.json()["code"] == "login_locked"
        retry_after = int(locked.headers["retry-after"])
        assert 0 < retry_after <= settings.login_lock_minutes * 60

    async def test_fewer_failures_than_the_limit_still_let_the_user_in(
        self, client, make_user, settings
    ):
        user = await make_user(Role.COLLECTOR)
        for _ in range(settings.login_max_failures - 1):
            await login(client, user.username, "wrong-password")
        assert (await login(client, user.username, TEST_PASSWORD)).status_code == 200

    async def test_unknown_names_lock_the_same_way(self, client, settings):
        for _ in range(settings.login_max_failures):
            await login(client, "ghost-user", "whatever-it-is")
        assert (await login(client, "ghost-user", "whatever-it-is")).status_code == 429

    async def test_old_failures_outside_the_window_do_not_count(
        self, client, make_user, session, settings
    ):
        user = await make_user(Role.COLLECTOR)
        long_ago = datetime.now(UTC) - timedelta(
            minutes=settings.login_failure_window_minutes + settings.login_lock_minutes + 1
        )
        session.add_all(
            # From the test client's address (httpx's ASGITransport default).
            LoginAttempt(
                username=user.username, address="127.0.0.1", succeeded=False, attempted_at=long_ago
            )
            for _ in range(settings.login_max_failures)
        )
        await session.commit()
        assert (await login(client, user.username, TEST_PASSWORD)).status_code == 200


class TestPurge:
    async def test_attempts_too_old_for_any_lock_go_and_a_lock_in_force_stays(
        self, client, make_user, session, settings
    ):
        user = await make_user(Role.COLLECTOR)
        now = datetime.now(UTC)
        # The longest any attempt can matter: a failure window, then the lock it begins.
        horizon = timedelta(
            minutes=settings.login_failure_window_minutes + settings.login_lock_minutes
        )
        old = [
            LoginAttempt(username=user.username, address="127.0.0.1", succeeded=ok,
                         attempted_at=now - horizon - timedelta(minutes=minutes))
            for minutes, ok in ((1, False), (60, True), (60 * 24 * 40, False))
        ]  # fmt: skip
        kept = [
            LoginAttempt(username=user.username, address="127.0.0.1", succeeded=False,
                         attempted_at=now - timedelta(seconds=30 + n))
            for n in range(settings.login_max_failures)
        ] + [
            LoginAttempt(username="someone-else", address="198.51.100.7", succeeded=True,
                         attempted_at=now - horizon + timedelta(minutes=1))
        ]  # fmt: skip
        session.add_all([*old, *kept])
        await session.commit()

        assert await purge_login_attempts(session, settings, now) == len(old)
        await session.commit()
        left = set(await session.scalars(select(LoginAttempt.id)))
        assert {a.id for a in kept} <= left
        assert not {a.id for a in old} & left
        # The recent failures still lock the name from this address.
        locked = await login(client, user.username, TEST_PASSWORD)
        assert locked.status_code == 429
        assert locked.json()["code"] == "login_locked"


class TestBearerTokens:
    async def test_no_token_is_401_with_a_bearer_challenge(self, client):
        response = await client.get("/api/v1/users/me")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "not_authenticated"

    async def test_expired_token_is_refused(self, client, make_user, settings):
        user = await make_user(Role.ADMIN)
        past = datetime.now(UTC) - timedelta(minutes=settings.access_token_minutes + 5)
        response = await client.get(
            "/api/v1/users/me", headers=bearer_for(settings, user, now=past)
        )
        assert_problem(response, 401, "not_authenticated")

    async def test_tampered_signature_is_refused(self, client, make_user, auth_headers):
        user = await make_user(Role.ADMIN)
        token = auth_headers(user)["Authorization"].removeprefix("Bearer ")
        head, payload, signature = token.split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        response = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {head}.{payload}.{flipped}"}
        )
        assert_problem(response, 401, "not_authenticated")

    async def test_alg_none_token_is_refused(self, client, make_user):
        import base64
        import json

        user = await make_user(Role.ADMIN)

        def b64(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        now = int(datetime.now(UTC).timestamp())
        claims = {
            "sub": str(user.id),
            "role": "admin",
            "iat": now,
            "exp": now + 600,
            "jti": "x",
            "iss": "cartera",
        }
        token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
        response = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert_problem(response, 401, "not_authenticated")

    async def test_token_signed_with_another_key_is_refused(self, client, make_user, settings):
        user = await make_user(Role.ADMIN)
        other = settings.model_copy(update={"jwt_secret": type(settings.jwt_secret)("x" * 40)})
        response = await client.get("/api/v1/users/me", headers=bearer_for(other, user))
        assert_problem(response, 401, "not_authenticated")

    async def test_hs512_token_is_refused_when_hs256_is_configured(
        self, client, make_user, settings
    ):
        user = await make_user(Role.ADMIN)
        other = settings.model_copy(update={"jwt_algorithm": "HS512"})
        response = await client.get("/api/v1/users/me", headers=bearer_for(other, user))
        assert_problem(response, 401, "not_authenticated")

    async def test_role_edited_into_the_claims_is_not_trusted(self, client, make_user, settings):
        collector = await make_user(Role.COLLECTOR)
        # Signed with the right key and carrying everything else right: only the role lies.
        forged = issue_token(
            settings,
            subject=str(collector.id),
            role=Role.ADMIN,
            now=datetime.now(UTC),
            extra={"pwf": credentials_fingerprint(collector.password_hash)},
        )
        response = await client.get(
            "/api/v1/users", headers={"Authorization": f"Bearer {forged.access_token}"}
        )
        assert_problem(response, 401, "not_authenticated")

    async def test_a_deactivated_users_tokens_stop_working(
        self, client, make_user, auth_headers, session
    ):
        user = await make_user(Role.MANAGER)
        headers = auth_headers(user)
        assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
        user.is_active = False
        session.add(user)
        await session.commit()
        assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 401

    async def test_garbage_and_oversized_tokens_are_401_not_500(self, client):
        for token in (b"garbage", b"a.b.c", b"x" * 10000, "ünïcode.tøken".encode()):
            response = await client.get(
                "/api/v1/users/me", headers={"Authorization": b"Bearer " + token}
            )
            assert_problem(response, 401, "not_authenticated")


async def partner_token(client, client_id: str, secret: str = "s3cret-s3cret") -> str:
    response = await request_client_token(client, client_id, secret)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


class TestClientCredentials:
    async def test_http_basic_client_authentication_works(self, client, session):
        import base64
        from urllib.parse import quote_plus

        partner, partner_client = await make_partner_client(session, secret="s3cret:with spaces")
        pair = f"{quote_plus(partner_client.client_id)}:{quote_plus('s3cret:with spaces')}"
        basic = base64.b64encode(pair.encode()).decode()
        response = await client.post(
            CLIENT_TOKEN_URL,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert response.status_code == 200, response.text
        claims = jwt.get_unverified_claims(response.json()["access_token"])
        assert claims["partner_id"] == str(partner.id)

    async def test_basic_and_form_credentials_together_are_refused(self, client, session):
        import base64

        _, partner_client = await make_partner_client(session)
        basic = base64.b64encode(f"{partner_client.client_id}:s3cret-s3cret".encode()).decode()
        response = await client.post(
            CLIENT_TOKEN_URL,
            data={
                "grant_type": "client_credentials",
                "client_id": partner_client.client_id,
                "client_secret": "s3cret-s3cret",
            },
            headers={"Authorization": f"Basic {basic}"},
        )
        assert_problem(response, 422, "invalid_input")

    @pytest.mark.parametrize("header", [None, "Basic !!!notbase64", "Basic " + "bm9jb2xvbg=="])
    async def test_missing_or_malformed_client_authentication_is_401(self, client, header):
        headers = {"Authorization": header} if header else {}
        response = await client.post(
            CLIENT_TOKEN_URL, data={"grant_type": "client_credentials"}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_client"

    async def test_partner_system_gets_a_partner_token(self, client, session):
        partner, partner_client = await make_partner_client(session)
        response = await request_client_token(client, partner_client.client_id, "s3cret-s3cret")
        assert response.status_code == 200
        claims = jwt.get_unverified_claims(response.json()["access_token"])
        assert claims["role"] == "partner"
        assert claims["partner_id"] == str(partner.id)
        assert claims["sub"] == f"client:{partner_client.client_id}"

    async def test_wrong_secret_is_401(self, client, session):
        _, partner_client = await make_partner_client(session)
        response = await request_client_token(client, partner_client.client_id, "wrong")
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_client"

    async def test_other_grant_types_are_a_validation_problem(self, client):
        response = await client.post(
            CLIENT_TOKEN_URL,
            data={"grant_type": "password", "client_id": "a", "client_secret": "b"},
        )
        assert_problem(response, 422, "validation_failed")
        assert response.json()["errors"][0]["field"] == "body.grant_type"

    async def test_partner_token_is_not_a_staff_user(self, client, session):
        _, partner_client = await make_partner_client(session)
        token = await partner_token(client, partner_client.client_id)
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 403
        assert (await client.get("/api/v1/users", headers=headers)).status_code == 403

    async def test_deactivated_client_loses_access(self, client, session):
        _, partner_client = await make_partner_client(session)
        token = await partner_token(client, partner_client.client_id)
        partner_client.is_active = False
        session.add(partner_client)
        await session.commit()
        response = await client.get("/api/v1/teams", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "not_authenticated")

    async def test_partner_id_edited_into_the_claims_is_refused(self, client, session, settings):
        _, partner_client = await make_partner_client(session)
        other_partner, _ = await make_partner_client(session)
        forged = issue_token(
            settings,
            subject=f"client:{partner_client.client_id}",
            role=Role.PARTNER,
            now=datetime.now(UTC),
            extra={
                "partner_id": str(other_partner.id),
                "pwf": credentials_fingerprint(partner_client.secret_hash),
            },
        )
        response = await client.get(
            "/api/v1/teams", headers={"Authorization": f"Bearer {forged.access_token}"}
        )
        assert_problem(response, 401, "not_authenticated")

    async def test_a_partner_token_without_its_credentials_fingerprint_is_refused(
        self, client, session, settings
    ):
        """Signed with the right key and naming the right partner, but not bound to the
        client's current secret (or to none): refused, as a staff token without `pwf` is."""
        partner, partner_client = await make_partner_client(session)
        for extra in (
            {"partner_id": str(partner.id)},
            {"partner_id": str(partner.id), "pwf": credentials_fingerprint("another-hash")},
        ):
            forged = issue_token(
                settings,
                subject=f"client:{partner_client.client_id}",
                role=Role.PARTNER,
                now=datetime.now(UTC),
                extra=extra,
            )
            response = await client.get(
                "/api/v1/partners", headers={"Authorization": f"Bearer {forged.access_token}"}
            )
            assert_problem(response, 401, "not_authenticated")
        genuine = await partner_token(client, partner_client.client_id)
        response = await client.get(
            "/api/v1/partners", headers={"Authorization": f"Bearer {genuine}"}
        )
        assert response.status_code == 200
