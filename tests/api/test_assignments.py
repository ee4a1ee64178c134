"""Assignment pushes through the API: JSON, CSV and Excel, replays, rejections, recalls."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from stdnum.mx import curp as curp_module

from app.domain.roles import Role
from app.domain.stages import DEFAULT_EDGES, stage_for
from app.models.account import Account
from app.models.partner import Partner, PartnerBucket
from app.services import assignments as service

TODAY = date.today()


def valid_curp(n: int) -> str:
    """A CURP with a correct check digit, distinct per n (birth date varies)."""
    born = date(1960, 1, 1) + timedelta(days=n)
    base = f"BOXW{born:%y%m%d}HNERXN{chr(ord('A') + n % 26)}"
    return base + curp_module.calc_check_digit(base)


def row(ref: str, n: int = 0, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_ref": ref,
        "product_type": "revolving",
        "currency": "MXN",
        "original_amount": "5000.00",
        "principal": "1000.00",
        "interest": "120.50",
        "fees": "0",
        "total": "1120.50",
        "past_due_amount": "300.00",
        "oldest_unpaid_due_date": (TODAY - timedelta(days=45)).isoformat(),
        "debtor": {
            "first_names": "Juan",
            "last_names": "Pérez López",
            "national_id_type": "CURP",
            "national_id": valid_curp(n),
            "phones": ["55 1234 5678"],
            "emails": ["juan@example.mx"],
            "addresses": [{"line": "Av. Reforma 1", "state": "Sonora", "postal_code": "83000"}],
        },
        "references": [
            {"full_name": "Ana Pérez", "relationship": "sister", "phones": ["3312345678"]}
        ],
        "guarantors": [{"full_name": "Luis Gómez", "phones": ["8112345678"]}],
    }
    data.update(overrides)
    return data


async def add_partner(
    session: AsyncSession, *, country: str = "MX", currency: str = "MXN"
) -> Partner:
    partner = Partner(
        legal_name=f"Partner {uuid.uuid4().hex[:6]}",
        tax_id=uuid.uuid4().hex[:12].upper(),
        country=country,
        currency=currency,
        time_zone="America/Mexico_City",
    )
    session.add(partner)
    await session.flush()
    for product in ("revolving", "installment", "single_payment"):
        session.add(
            PartnerBucket(
                partner_id=partner.id,
                product_type=product,
                **{f"{k}_from": v for k, v in DEFAULT_EDGES.as_dict().items()},
            )
        )
    await session.flush()
    return partner


async def push_json(
    client: AsyncClient,
    headers: dict[str, str],
    partner: Partner,
    rows: list[Any],
    key: str | None = None,
):
    return await client.post(
        f"/api/v1/partners/{partner.id}/assignments",
        json={"rows": rows},
        headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


@pytest.fixture
async def manager(make_user, auth_headers):
    user = await make_user(Role.MANAGER)
    return auth_headers(user)


class TestSmoke:
    async def test_json_push_creates_accounts(self, client, session, manager):
        partner = await add_partner(session)
        response = await push_json(
            client, manager, partner, [row("A-1", 1), row("A-2", 2, total="1")]
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "queued"
        done = await service.process_assignment(session, uuid.UUID(body["id"]))
        assert (done.status, done.received, done.created, done.rejected) == (
            "completed_with_errors",
            2,
            1,
            1,
        )
        account = (
            await session.scalars(select(Account).where(col(Account.partner_id) == partner.id))
        ).one()
        assert account.dpd == 45
        assert account.stage == stage_for(45).value
        read = await client.get(f"/api/v1/assignments/{body['id']}", headers=manager)
        assert read.json()["counts"]["created"] == 1
        rej = await client.get(f"/api/v1/assignments/{body['id']}/rejections", headers=manager)
        assert rej.json()["items"][0]["field"] == "total"
