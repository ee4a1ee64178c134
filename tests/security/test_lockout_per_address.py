"""Nobody can lock another client out of a login (issue 17 item 1).

Failures used to be counted per name only: five anonymous requests locked `admin`, or a
partner's system, for everyone. Now a name locks only for the address that failed, an
address that fails under many names locks for all of them, and the address is the socket
peer unless the peer is a configured trusted proxy. Each client below is an httpx
``ASGITransport`` with its own ``client=(host, port)``, the peer address the app sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from ipaddress import ip_network
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.domain.roles import Role
from app.main import create_app
from app.models.audit import AuditEvent
from app.models.user import LoginAttempt
from tests.conftest import TEST_PASSWORD
from tests.factories import assert_problem
from tests.helpers.auth import make_partner_client

TOKEN_URL = "/api/v1/auth/token"
CLIENT_TOKEN_URL = "/api/v1/auth/client-token"

ATTACKER = "203.0.113.66"
USER = "198.51.100.10"
PROXY = "10.0.0.5"


@pytest.fixture
def make_client(engine, sessionmaker, settings) -> Callable[..., Any]:
    """``async with make_client(host, **settings) as client``: an app seen from ``host``."""

    @asynccontextmanager
    async def make(host: str, **overrides: Any) -> AsyncIterator[AsyncClient]:
        app = create_app(settings.model_copy(update=overrides), Database(engine, sessionmaker))
        transport = ASGITransport(app=app, client=(host, 40000))
        async with AsyncClient(transport=transport, base_url="http://t") as client:
            yield client

    return make


async def login(client: AsyncClient, username: str, password: str, **headers: str) -> Response:
    return await client.post(
        TOKEN_URL, data={"username": username, "password": password}, headers=headers
    )


async def client_login(client: AsyncClient, client_id: str, secret: str) -> Response:
    return await client.post(
        CLIENT_TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


async def fail(client: AsyncClient, username: str, times: int, **headers: str) -> None:
    for _ in range(times):
        response = await login(client, username, "not-the-password", **headers)
        assert response.status_code == 401, response.text


def locked(response: Response) -> bool:
    return (
        response.status_code == 429
        and response.headers["content-type"] == "application/problem+json"
        and response.json()["code"] == "login_locked"
        and int(response.headers["retry-after"]) > 0
    )


async def counts(session) -> tuple[int, int]:
    attempts = await session.scalar(select(func.count()).select_from(LoginAttempt))
    events = await session.scalar(select(func.count()).select_from(AuditEvent))
    return attempts, events


async def lock_events(session) -> list[AuditEvent]:
    rows = await session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.locked_out").order_by(AuditEvent.seq)  # type: ignore[arg-type]
    )
    return list(rows)


def lockouts(kind: str) -> float:
    return REGISTRY.get_sample_value("cartera_login_lockouts_total", {"kind": kind}) or 0.0


class TestOneNameFromOneAddress:
    async def test_failures_from_one_address_do_not_lock_the_name_for_another(
        self, make_client, make_user, settings: Settings
    ):
        admin = await make_user(Role.ADMIN)
        async with make_client(ATTACKER) as attacker, make_client(USER) as user:
            await fail(attacker, admin.username, settings.login_max_failures)
            assert locked(await login(attacker, admin.username, TEST_PASSWORD))
            # The real admin, from another address, still signs in …
            response = await login(user, admin.username, TEST_PASSWORD)
            assert response.status_code == 200, response.text
            # … and the attacker is still locked out.
            assert locked(await login(attacker, admin.username, TEST_PASSWORD))

    async def test_a_partner_system_is_not_locked_out_by_someone_else(
        self, make_client, session, settings: Settings
    ):
        _, partner_client = await make_partner_client(session)
        async with make_client(ATTACKER) as attacker, make_client(USER) as partner:
            for _ in range(settings.login_max_failures):
                response = await client_login(attacker, partner_client.client_id, "guess")
                assert_problem(response, 401, "invalid_client")
            assert locked(await client_login(attacker, partner_client.client_id, "s3cret-s3cret"))
            response = await client_login(partner, partner_client.client_id, "s3cret-s3cret")
            assert response.status_code == 200, response.text

    async def test_the_refusal_is_the_same_for_a_name_that_exists_and_one_that_does_not(
        self, make_client, make_user, settings: Settings
    ):
        admin = await make_user(Role.ADMIN)
        async with make_client(ATTACKER) as attacker:
            await fail(attacker, admin.username, settings.login_max_failures)
            await fail(attacker, "nobody-by-this-name", settings.login_max_failures)
            real = await login(attacker, admin.username, TEST_PASSWORD)
            ghost = await login(attacker, "nobody-by-this-name", "whatever")
        assert locked(real) and locked(ghost)

        def stable(response: Response) -> dict:
            body = response.json()
            # Retry-After counts down with the clock; everything else must match.
            return {k: v for k, v in body.items() if k not in {"request_id", "detail"}}

        assert stable(real) == stable(ghost)
        assert set(real.headers) == set(ghost.headers)


class TestForwardedFor:
    async def test_a_spoofed_header_from_an_untrusted_peer_changes_nothing(
        self, make_client, make_user, session, settings: Settings
    ):
        admin = await make_user(Role.ADMIN)
        async with make_client(ATTACKER) as attacker, make_client(USER) as user:
            # Each failure claims to come from somewhere else, the last from the user's address.
            for n in range(settings.login_max_failures - 1):
                await fail(attacker, admin.username, 1, **{"X-Forwarded-For": f"192.0.2.{n}"})
            await fail(attacker, admin.username, 1, **{"X-Forwarded-For": USER})
            claimed = await login(
                attacker, admin.username, TEST_PASSWORD, **{"X-Forwarded-For": USER}
            )
            assert locked(claimed)
            assert (await login(user, admin.username, TEST_PASSWORD)).status_code == 200
        stored = set(await session.scalars(select(LoginAttempt.address).distinct()))
        assert stored == {ATTACKER, USER}

    async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
        self, make_client, make_user, session, settings: Settings
    ):
        admin = await make_user(Role.ADMIN)
        trusted = {"trusted_proxies": [ip_network("10.0.0.0/8")]}
        async with make_client(PROXY, **trusted) as proxy:
            # The attacker writes its own header; the proxy appends the address it saw.
            spoofed = {"X-Forwarded-For": f"{USER}, {ATTACKER}"}
            await fail(proxy, admin.username, settings.login_max_failures, **spoofed)
            assert locked(await login(proxy, admin.username, TEST_PASSWORD, **spoofed))
            via_proxy = await login(
                proxy, admin.username, TEST_PASSWORD, **{"X-Forwarded-For": USER}
            )
            assert via_proxy.status_code == 200, via_proxy.text
        stored = set(await session.scalars(select(LoginAttempt.address).distinct()))
        assert stored == {ATTACKER, USER}

    async def test_the_header_is_ignored_when_no_proxy_is_trusted(
        self, make_client, make_user, session, settings: Settings
    ):
        admin = await make_user(Role.ADMIN)
        async with make_client(PROXY) as proxy:
            await fail(proxy, admin.username, 1, **{"X-Forwarded-For": USER})
        assert set(await session.scalars(select(LoginAttempt.address))) == {PROXY}

    async def test_ipv6_clients_are_counted_per_slash_64(
        self, make_client, make_user, session, settings: Settings
    ):
        admin = await make_user(Role.ADMIN)
        for n in range(settings.login_max_failures):
            async with make_client(f"2001:db8:1:2::{n + 1:x}") as rotating:
                await fail(rotating, admin.username, 1)
        async with make_client("2001:db8:1:2:ffff::1") as same_block:
            assert locked(await login(same_block, admin.username, TEST_PASSWORD))
        async with make_client("2001:db8:1:3::1") as other_block:
            assert (await login(other_block, admin.username, TEST_PASSWORD)).status_code == 200


class TestOneAddressManyNames:
    async def test_an_address_failing_under_many_names_is_refused_for_every_name(
        self, make_client, make_user, settings: Settings
    ):
        limits = {"login_max_failures": 5, "login_address_max_failures": 12}
        admin = await make_user(Role.ADMIN)
        async with make_client(ATTACKER, **limits) as attacker, make_client(USER, **limits) as user:
            # Three failures under each of four names: no name reaches five.
            for name in ("ana", "beto", "carla", "dario"):
                await fail(attacker, name, 3)
            for name in ("ana", "someone-new", admin.username):
                assert locked(await login(attacker, name, "anything"))
            assert locked(await login(attacker, admin.username, TEST_PASSWORD))
            assert (await login(user, admin.username, TEST_PASSWORD)).status_code == 200

    async def test_successes_between_guesses_do_not_reset_the_address(
        self, make_client, make_user, settings: Settings
    ):
        limits = {"login_max_failures": 5, "login_address_max_failures": 6}
        own = await make_user(Role.COLLECTOR)
        async with make_client(ATTACKER, **limits) as attacker:
            for n in range(6):
                await fail(attacker, f"victim-{n}", 1)
                if n < 5:
                    assert (await login(attacker, own.username, TEST_PASSWORD)).status_code == 200
            assert locked(await login(attacker, own.username, TEST_PASSWORD))

    async def test_the_default_address_limit_is_fifty(self, settings: Settings):
        assert settings.login_address_max_failures == 50
        assert settings.login_max_failures == 5
        assert settings.trusted_proxies == []


class TestLockStartsAreCountedAndAudited:
    async def test_the_failure_that_begins_a_lock_is_audited_once_and_counted(
        self, make_client, make_user, session, settings: Settings
    ):
        admin = await make_user(Role.ADMIN)
        before = lockouts("name_address")
        async with make_client(ATTACKER) as attacker:
            await fail(attacker, admin.username, settings.login_max_failures - 1)
            assert await lock_events(session) == []
            attempts, events = await counts(session)
            await fail(attacker, admin.username, 1)
            # The failure is kept and the lock's start audited, once.
            assert await counts(session) == (attempts + 1, events + 1)
            assert lockouts("name_address") == before + 1
            # Refused attempts write nothing and begin nothing.
            for password in (TEST_PASSWORD, "still-wrong"):
                assert locked(await login(attacker, admin.username, password))
            assert await counts(session) == (attempts + 1, events + 1)
            assert lockouts("name_address") == before + 1
        [event] = await lock_events(session)
        assert (event.actor_id, event.entity_type, event.entity_id) == (
            "system",
            "login_name",
            admin.username,
        )
        assert event.after is not None
        assert event.after["scope"] == "name_address"
        assert event.after["name"] == admin.username
        assert event.after["address"] == event.after["address_key"] == ATTACKER
        assert event.after["locked_until"]

    async def test_an_address_lock_is_audited_and_counted_as_such(
        self, make_client, session, settings: Settings
    ):
        limits = {"login_address_max_failures": 4}
        before = lockouts("address")
        async with make_client("2001:db8::7", **limits) as attacker:
            for name in ("ana", "beto", "carla", "dario"):
                await fail(attacker, name, 1)
            assert locked(await login(attacker, "elena", "x"))
        assert lockouts("address") == before + 1
        [event] = await lock_events(session)
        assert (event.entity_type, event.entity_id) == ("login_address", "2001:db8::/64")
        assert event.after is not None
        assert event.after["scope"] == "address"
        assert event.after["address"] == "2001:db8::7"
        assert event.after["name"] == "dario"

    async def test_the_metric_is_published(self, make_client, make_user, auth_headers):
        admin = await make_user(Role.ADMIN)
        async with make_client(USER) as client:
            body = (await client.get("/metrics", headers=auth_headers(admin))).text
        for kind in ("name_address", "address"):
            assert f'cartera_login_lockouts_total{{kind="{kind}"}}' in body
