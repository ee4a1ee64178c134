"""Token and session attacks, security headers and CORS (issue 9).

tests/api/test_auth.py covers the grants; here each attack is tried against several
operations (staff and partner ones), and the RS256 configuration is attacked as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from httpx import ASGITransport, AsyncClient
from jose import jwt

from app.db import Database
from app.domain.roles import Role
from app.main import create_app
from app.security import issue_token
from app.services.auth import credentials_fingerprint
from tests.conftest import TEST_PASSWORD, bearer_for
from tests.factories import assert_problem, make_account, make_partner, partner_bearer

# Operations a staff admin token may call: each attack must get 401 from all of them.
STAFF_TARGETS = ["/api/v1/users/me", "/api/v1/users", "/api/v1/accounts", "/api/v1/audit"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    return ".".join(
        (b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature))
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assert_refused(client, headers: dict[str, str], paths=STAFF_TARGETS) -> None:
    for path in paths:
        response = await client.get(path, headers=headers)
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def hmac_token(claims: dict, key: bytes, alg: str) -> str:
    """An HS token signed by hand (python-jose refuses a PEM key as an HMAC secret)."""
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{b64(signature)}"


def claims_of(token: str) -> dict:
    return jwt.get_unverified_claims(token)


class TestForgedTokens:
    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    async def test_alg_none_is_refused(self, client, make_user, auth_headers, alg):
        admin = await make_user(Role.ADMIN)
        claims = claims_of(auth_headers(admin)["Authorization"].removeprefix("Bearer "))
        await assert_refused(client, bearer(forge({"alg": alg, "typ": "JWT"}, claims)))
        # The same with the original signature left on.
        real = auth_headers(admin)["Authorization"].removeprefix("Bearer ").split(".")[2]
        token = forge({"alg": alg, "typ": "JWT"}, claims)[: -0 or None] + real
        await assert_refused(client, bearer(token))

    async def test_rs256_token_is_refused_by_an_hs256_app(self, client, make_user, settings):
        admin = await make_user(Role.ADMIN)
        private, public = rsa_pair()
        rs = settings.model_copy(
            update={"jwt_algorithm": "RS256", "jwt_private_key": type(settings.jwt_secret)(private),
                    "jwt_public_key": public}
        )  # fmt: skip
        await assert_refused(client, bearer_for(rs, admin))

    async def test_hs256_signed_with_the_public_key_is_refused_by_an_rs256_app(
        self, engine, sessionmaker, settings, make_user
    ):
        """The classic algorithm confusion: the verifier's public key used as HMAC secret."""
        admin = await make_user(Role.ADMIN)
        private, public = rsa_pair()
        rs = settings.model_copy(
            update={"jwt_algorithm": "RS256", "jwt_private_key": type(settings.jwt_secret)(private),
                    "jwt_public_key": public}
        )  # fmt: skip
        app = create_app(rs, Database(engine, sessionmaker))
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            # The right RS256 token works (the control) …
            assert (await client.get("/api/v1/users/me", headers=bearer_for(rs, admin))).is_success
            claims = claims_of(bearer_for(rs, admin)["Authorization"].removeprefix("Bearer "))
            for secret in (public, public.strip(), private):
                for alg in ("HS256", "HS512"):
                    token = hmac_token(claims, secret.encode(), alg)
                    await assert_refused(client, bearer(token))
            # … and a token of the HS256 app (the default secret) is not accepted either.
            await assert_refused(client, bearer_for(settings, admin))

    async def test_expired_and_not_yet_valid_tokens_are_refused(self, client, make_user, settings):
        admin = await make_user(Role.ADMIN)
        past = datetime.now(UTC) - timedelta(minutes=settings.access_token_minutes + 1)
        await assert_refused(client, bearer_for(settings, admin, now=past))
        # Signed correctly, but issued an hour from now with an expiry after that.
        future = datetime.now(UTC) + timedelta(hours=1)
        await assert_refused(client, bearer_for(settings, admin, now=future))
        # A clock a few seconds ahead of ours is tolerated.
        ahead = datetime.now(UTC) + timedelta(seconds=20)
        response = await client.get(
            "/api/v1/users/me", headers=bearer_for(settings, admin, now=ahead)
        )
        assert response.status_code == 200

    async def test_token_signed_with_another_key_is_refused(self, client, make_user, settings):
        admin = await make_user(Role.ADMIN)
        other = settings.model_copy(update={"jwt_secret": type(settings.jwt_secret)("k" * 48)})
        await assert_refused(client, bearer_for(other, admin))

    async def test_token_of_another_issuer_is_refused(self, client, make_user, settings):
        admin = await make_user(Role.ADMIN)
        other = settings.model_copy(update={"jwt_issuer": "someone-else"})
        await assert_refused(client, bearer_for(other, admin))

    async def test_token_of_a_deactivated_user_is_refused(
        self, client, make_user, auth_headers, session
    ):
        admin = await make_user(Role.ADMIN)
        headers = auth_headers(admin)
        assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
        admin.is_active = False
        session.add(admin)
        await session.commit()
        await assert_refused(client, headers)

    async def test_a_password_change_ends_older_tokens(
        self, client, make_user, auth_headers, session
    ):
        user = await make_user(Role.MANAGER)
        headers = auth_headers(user)
        admin = await make_user(Role.ADMIN)
        changed = await client.patch(
            f"/api/v1/users/{user.id}",
            json={"password": "a-brand-new-password-1"},
            headers=auth_headers(admin),
        )
        assert changed.status_code == 200, changed.text
        await assert_refused(client, headers, ["/api/v1/users/me"])

    async def test_role_claim_edited_without_resigning_is_refused(
        self, client, make_user, auth_headers
    ):
        collector = await make_user(Role.COLLECTOR)
        head, payload, signature = (
            auth_headers(collector)["Authorization"].removeprefix("Bearer ").split(".")
        )
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["role"] = "admin"
        edited = f"{head}.{b64(json.dumps(claims).encode())}.{signature}"
        await assert_refused(client, bearer(edited))

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.AUDITOR, Role.PARTNER])
    async def test_role_claim_resigned_with_the_right_key_is_not_trusted(
        self, client, make_user, settings, role
    ):
        """Even with the signing key, a collector's subject with another role is refused:
        the role is checked against the user row."""
        collector = await make_user(Role.COLLECTOR)
        forged = issue_token(
            settings,
            subject=str(collector.id),
            role=role,
            now=datetime.now(UTC),
            extra={"pwf": credentials_fingerprint(collector.password_hash)},
        )
        await assert_refused(client, bearer(forged.access_token))

    async def test_unknown_subject_is_refused(self, client, settings):
        forged = issue_token(settings, subject=str(uuid.uuid4()), role=Role.ADMIN,
                             now=datetime.now(UTC))  # fmt: skip
        await assert_refused(client, bearer(forged.access_token))

    @pytest.mark.parametrize(
        "value",
        ["Bearer", "Bearer ", "Basic YWRtaW46Y2FydGVyYQ==", "bearer x.y", "Bearer " + "a." * 5000,
         "Bearer eyJhbGciOiJIUzI1NiJ9.e30.", "Bearer \u00e9\u00e9.\u00e9.\u00e9"],
    )  # fmt: skip
    async def test_malformed_authorization_is_401(self, client, value):
        response = await client.get(
            "/api/v1/users/me", headers={"Authorization": value.encode("utf-8")}
        )
        assert_problem(response, 401, "not_authenticated")


class TestPartnerTokens:
    async def test_partner_token_with_another_partners_id_in_the_path_is_404(
        self, client, session, settings
    ):
        mine = await make_partner(session)
        theirs = await make_partner(session)
        their_account = await make_account(session, theirs, dpd=40)
        headers = await partner_bearer(session, settings, mine)
        await session.commit()
        base = f"/api/v1/partners/{theirs.id}"
        CSV = {"Content-Type": "text/csv"}  # noqa: N806
        for method, path, kwargs in [
            ("GET", base, {}),
            ("GET", f"{base}/strategy", {}),
            ("GET", f"{base}/commission-terms", {}),
            ("POST", f"{base}/recalls", {"json": {"external_refs": [their_account.external_ref]}}),
            ("POST", f"{base}/assignments", {"json": {"rows": []}}),
            ("POST", f"{base}/payment-files", {"content": b"x", "headers": CSV}),
            ("GET", f"/api/v1/accounts/{their_account.id}", {}),
            ("GET", f"/api/v1/debtors/{their_account.debtor_id}", {}),
        ]:  # fmt: skip
            extra = kwargs.pop("headers", {})
            response = await client.request(
                method, path, headers={**headers, **extra, "Idempotency-Key": uuid.uuid4().hex},
                **kwargs,
            )  # fmt: skip
            assert_problem(response, 404, "not_found")
        # The recall changed nothing on the other partner's account.
        await session.refresh(their_account)
        assert their_account.status != "recalled"

    async def test_partner_id_claim_swapped_is_refused(self, client, session, settings):
        mine = await make_partner(session)
        theirs = await make_partner(session)
        headers = await partner_bearer(session, settings, mine)
        await session.commit()
        token = headers["Authorization"].removeprefix("Bearer ")
        claims = claims_of(token)
        claims["partner_id"] = str(theirs.id)
        forged = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
        await assert_refused(client, bearer(forged), ["/api/v1/accounts", "/api/v1/partners"])


async def login(client, username: str, password: str):
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


class TestBruteForce:
    async def test_lockout_after_the_limit_for_the_right_password_too(
        self, client, make_user, settings
    ):
        user = await make_user(Role.ADMIN)
        statuses = [
            (await login(client, user.username, f"guess-{n}")).status_code
            for n in range(settings.login_max_failures)
        ]
        assert statuses == [401] * settings.login_max_failures
        locked = await login(client, user.username, TEST_PASSWORD)
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        assert locked.json()["code"] == "login_locked"

    async def test_changing_the_case_of_the_name_does_not_escape_the_lockout(
        self, client, make_user, settings
    ):
        user = await make_user(Role.ADMIN)
        name = user.username
        variants = [name, name.upper(), name.capitalize(), name.swapcase(), f" {name}"]
        for n in range(settings.login_max_failures):
            await login(client, variants[n % len(variants)], f"guess-{n}")
        for variant in (name, name.upper()):
            response = await login(client, variant, TEST_PASSWORD)
            assert_problem(response, 429, "login_locked")

    async def test_the_lockout_answer_does_not_tell_whether_the_name_exists(
        self, client, make_user, settings
    ):
        user = await make_user(Role.COLLECTOR)
        for name in (user.username, "nobody-here-at-all"):
            for n in range(settings.login_max_failures):
                await login(client, name, f"guess-{n}")
        real = await login(client, user.username, "x")
        ghost = await login(client, "nobody-here-at-all", "x")
        assert real.status_code == ghost.status_code == 429
        assert real.json()["code"] == ghost.json()["code"]


EXPECTED_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class TestHeaders:
    async def test_oversized_authorization_header_is_refused_without_work(self, client):
        for size in (8193, 64 * 1024, 1024 * 1024):
            response = await client.get(
                "/api/v1/users/me", headers={"Authorization": "Bearer " + "a" * size}
            )
            assert response.status_code in {400, 401, 431}, size

    async def test_many_and_huge_other_headers_do_not_break_the_app(self, client):
        headers = {f"X-Pad-{n}": "v" * 200 for n in range(200)}
        headers["Accept-Language"] = "es," * 10_000
        headers["X-Request-ID"] = "r" * 10_000
        response = await client.get("/healthz", headers=headers)
        assert response.status_code in {200, 400, 431}
        # An oversized request id is replaced, never echoed.
        assert len(response.headers["x-request-id"]) <= 80

    async def test_security_headers_on_every_kind_of_response(
        self, client, make_user, auth_headers, settings
    ):
        collector = await make_user(Role.COLLECTOR)
        responses = [
            await client.get("/healthz"),
            await client.get("/metrics", headers=auth_headers(collector)),  # 403
            await client.get("/api/v1/users/me"),  # 401
            await client.get("/api/v1/users", headers=auth_headers(collector)),  # 403
            await client.get(f"/api/v1/accounts/{uuid.uuid4()}", headers=auth_headers(collector)),
            await client.get("/api/v1/accounts/not-a-uuid", headers=auth_headers(collector)),
            await client.get("/no/such/path"),  # 404 unmatched
            await client.delete("/healthz"),  # 405
            await client.post(
                "/api/v1/users",
                content=b"x" * (settings.max_body_bytes + 1),
                headers={**auth_headers(collector), "Content-Type": "application/json"},
            ),
            await login(client, "nobody", "x"),
            await client.get("/openapi.json"),
        ]
        statuses = {r.status_code for r in responses}
        assert {200, 401, 403, 404, 405, 413, 422} <= statuses, statuses
        for response in responses:
            for name, value in EXPECTED_HEADERS.items():
                assert response.headers.get(name) == value, (response.url, name)
            assert "default-src" in response.headers["content-security-policy"]
            assert response.headers["x-request-id"]
            assert "server" not in {
                k.lower() for k in response.headers if k.lower() == "x-powered-by"
            }

    async def test_docs_get_their_own_policy_and_still_no_framing(self, client):
        response = await client.get("/docs")
        assert response.status_code == 200
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"


ALLOWED = "https://app.cartera.example"
EVIL = "https://evil.example"


@pytest.fixture
async def cors_client(engine, sessionmaker, settings):
    app = create_app(
        settings.model_copy(update={"cors_origins": [ALLOWED]}), Database(engine, sessionmaker)
    )
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        yield client


def preflight(origin: str, method: str = "GET") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }


class TestCors:
    async def test_configured_origin_gets_cors_headers(self, cors_client):
        response = await cors_client.options("/api/v1/users/me", headers=preflight(ALLOWED))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ALLOWED
        assert "authorization" in response.headers["access-control-allow-headers"].lower()
        simple = await cors_client.get("/healthz", headers={"Origin": ALLOWED})
        assert simple.headers["access-control-allow-origin"] == ALLOWED
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()

    @pytest.mark.parametrize(
        "origin",
        [EVIL, "null", ALLOWED + ".evil.example", "http://app.cartera.example",
         ALLOWED.replace("app.", "app-")],
    )  # fmt: skip
    async def test_other_origins_get_none(self, cors_client, origin):
        response = await cors_client.options("/api/v1/users/me", headers=preflight(origin))
        assert response.status_code == 400
        assert "access-control-allow-origin" not in response.headers
        simple = await cors_client.get("/healthz", headers={"Origin": origin})
        assert "access-control-allow-origin" not in simple.headers
        assert "access-control-allow-credentials" not in simple.headers

    async def test_no_cors_without_configured_origins(self, client):
        for origin in (ALLOWED, EVIL):
            response = await client.options("/api/v1/users/me", headers=preflight(origin))
            assert "access-control-allow-origin" not in response.headers
            simple = await client.get("/healthz", headers={"Origin": origin})
            assert "access-control-allow-origin" not in simple.headers
