"""Helpers shared by the tests of refresh tokens and the tests that build on them."""

from __future__ import annotations

from jose import jwt
from sqlalchemy import select

from app.models.audit import AuditEvent
from tests.conftest import TEST_PASSWORD

TOKEN_URL = "/api/v1/auth/token"


LOGOUT_URL = "/api/v1/auth/logout"


ME = "/api/v1/users/me"


async def login(client, user) -> dict:
    response = await client.post(
        TOKEN_URL, data={"username": user.username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def renew(client, refresh_token: str):
    return await client.post(
        TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def log_out(client, refresh_token: str):
    return await client.post(LOGOUT_URL, data={"refresh_token": refresh_token})


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def sid(tokens: dict) -> str:
    return jwt.get_unverified_claims(tokens["access_token"])["sid"]


async def family_events(session, family_id: str) -> list[AuditEvent]:
    return list(
        (
            await session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.entity_type == "refresh_token_family",
                    AuditEvent.entity_id == family_id,
                )
                .order_by(AuditEvent.seq)
            )
        ).all()
    )


def assert_invalid_grant(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_grant"
    assert response.headers["www-authenticate"] == "Bearer"
