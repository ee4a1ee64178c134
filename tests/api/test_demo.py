"""The demo data gives a newcomer working logins of every kind."""

from __future__ import annotations

from jose import jwt
from sqlalchemy import delete

from app.models.user import User
from app.services import demo


async def test_demo_logins_work_through_the_api(client, session):
    # Start from a database without another "admin" so the seed runs here.
    await session.execute(delete(User).where(User.username.in_([u[0] for u in demo.DEMO_STAFF])))
    assert await demo.seed(session) is True
    await session.commit()
    assert await demo.seed(session) is False

    for username, _, role, _ in demo.DEMO_STAFF:
        response = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": demo.DEMO_PASSWORD}
        )
        assert response.status_code == 200, username
        assert jwt.get_unverified_claims(response.json()["access_token"])["role"] == role.value

    partner = await client.post(
        "/api/v1/auth/client-token",
        data={
            "grant_type": "client_credentials",
            "client_id": demo.DEMO_CLIENT_ID,
            "client_secret": demo.DEMO_CLIENT_SECRET,
        },
    )
    assert partner.status_code == 200
    assert jwt.get_unverified_claims(partner.json()["access_token"])["role"] == "partner"

    token = (
        await client.post(
            "/api/v1/auth/token", data={"username": "lead", "password": demo.DEMO_PASSWORD}
        )
    ).json()["access_token"]
    teams = await client.get("/api/v1/teams", headers={"Authorization": f"Bearer {token}"})
    assert [t["name"] for t in teams.json()["items"]] == ["Equipo Centro"]
