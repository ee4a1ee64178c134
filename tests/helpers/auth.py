"""Helpers shared by the tests of auth and the tests that build on them."""

from __future__ import annotations

import uuid

from app.models.partner import Partner, PartnerClient
from app.security import hash_secret_now

CLIENT_TOKEN_URL = "/api/v1/auth/client-token"


async def make_partner_client(session, *, secret: str = "s3cret-s3cret", active: bool = True):
    partner = Partner(
        legal_name="Financiera Prueba",
        tax_id=uuid.uuid4().hex[:13].upper(),
        country="MX",
        currency="MXN",
        time_zone="America/Mexico_City",
    )
    session.add(partner)
    await session.flush()
    client = PartnerClient(
        partner_id=partner.id,
        client_id=f"fp-{uuid.uuid4().hex[:12]}",
        secret_hash=hash_secret_now(secret),
        name="core",
        is_active=active,
    )
    session.add(client)
    await session.commit()
    return partner, client


async def request_client_token(client, client_id: str, secret: str):
    return await client.post(
        CLIENT_TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
