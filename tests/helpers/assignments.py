"""Helpers shared by the tests of assignments and the tests that build on them."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from stdnum.mx import curp as curp_module

from app.models.account import Account
from app.models.assignment import Assignment
from app.models.partner import Partner, PartnerClient
from app.services import assignments as service
from app.services.auth import client_token
from tests.factories import make_partner

# The partner's business date: row dates are checked against it, and DPD counts from it.
PARTNER_ZONE = ZoneInfo("America/Mexico_City")


TODAY = datetime.now(PARTNER_ZONE).date()


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


async def add_partner(session: AsyncSession, **overrides: Any) -> Partner:
    return await make_partner(session, **overrides)


async def push_json(
    client: AsyncClient,
    headers: dict[str, str],
    partner: Partner,
    rows: list[Any],
    key: str | None = None,
) -> Response:
    return await client.post(
        f"/api/v1/partners/{partner.id}/assignments",
        json={"rows": rows},
        headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def push_raw(
    client: AsyncClient,
    headers: dict[str, str],
    partner: Partner,
    body: bytes | AsyncIterator[bytes],
    content_type: str,
    key: str | None = None,
) -> Response:
    return await client.post(
        f"/api/v1/partners/{partner.id}/assignments",
        content=body,
        headers={
            **headers,
            "Content-Type": content_type,
            "Idempotency-Key": key or uuid.uuid4().hex,
        },
    )


async def process(session: AsyncSession, response: Response) -> Assignment:
    assert response.status_code == 202, response.text
    return await service.process_assignment(session, uuid.UUID(response.json()["id"]))


async def accounts_of(session: AsyncSession, partner: Partner) -> dict[str, Account]:
    """The partner's accounts by external_ref, read afresh from the database."""
    found = await session.scalars(
        select(Account)
        .where(col(Account.partner_id) == partner.id)
        .execution_options(populate_existing=True)
    )
    return {a.external_ref: a for a in found}


async def partner_headers(session: AsyncSession, settings, partner: Partner) -> dict[str, str]:
    """A bearer token of a partner system, as the client-credentials grant issues it."""
    partner_client = PartnerClient(
        partner_id=partner.id,
        client_id=f"sys-{uuid.uuid4().hex[:12]}",
        secret_hash="not-used-here",
        name="core banking",
    )
    session.add(partner_client)
    await session.flush()
    token = client_token(settings, partner_client, datetime.now(UTC))
    return {"Authorization": f"Bearer {token.access_token}"}


FLAT_HEADER = [
    "external_ref",
    "product_type",
    "currency",
    "original_amount",
    "principal",
    "interest",
    "fees",
    "total",
    "past_due_amount",
    "oldest_unpaid_due_date",
    "last_payment_date",
    "last_payment_amount",
    "debtor_first_names",
    "debtor_last_names",
    "debtor_national_id_type",
    "debtor_national_id",
    "debtor_birth_date",
    "debtor_phones",
    "debtor_emails",
    "address_line",
    "address_state",
    "address_postal_code",
    "reference1_name",
    "reference1_relationship",
    "reference1_phones",
    "guarantor1_name",
    "guarantor1_phones",
]


def flat_row(ref: str, n: int = 0, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_ref": ref,
        "product_type": "installment",
        "currency": "MXN",
        "original_amount": "5000.00",
        "principal": "1000.00",
        "interest": "120.50",
        "fees": "15.25",
        "total": "1135.75",
        "past_due_amount": "300.00",
        "oldest_unpaid_due_date": (TODAY - timedelta(days=70)).isoformat(),
        "last_payment_date": (TODAY - timedelta(days=100)).isoformat(),
        "last_payment_amount": "250.00",
        "debtor_first_names": "María",
        "debtor_last_names": "Peña Núñez",
        "debtor_national_id_type": "CURP",
        "debtor_national_id": valid_curp(n),
        "debtor_birth_date": "1980-05-17",
        "debtor_phones": "55 1234 5678|33 1234 5678",
        "debtor_emails": "Maria.Pena@Example.MX",
        "address_line": "Calle 5 de Mayo 10",
        "address_state": "Quintana Roo",
        "address_postal_code": "77500",
        "reference1_name": "Ana Pérez",
        "reference1_relationship": "hermana",
        "reference1_phones": "3312345678",
        "guarantor1_name": "Luis Gómez",
        "guarantor1_phones": "8112345678",
    }
    data.update(overrides)
    return data


def csv_bytes(rows: list[dict[str, Any]], header: list[str] = FLAT_HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # \r\n line ends, as Excel writes them
    writer.writerow(header)
    for data in rows:
        writer.writerow(["" if data.get(c) is None else data[c] for c in header])
    return buffer.getvalue().encode("utf-8")
