"""Partners ("empresas convenidas"): register, read (within what the caller may see), change,
and manage the credentials of their systems.

A partner's bucket table is kept twice on purpose: the overrides as the partner asked for
them (``Partner.bucket_table``) and one ``PartnerBucket`` row per product type with the
defaults filled in, which the set-based aging joins. Both are written together here, and
nowhere else.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import false
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.domain.audit import diff
from app.domain.errors import NameTaken, NotFound, VersionMismatch
from app.domain.identity import Country
from app.domain.partners import (
    client_id_for,
    default_currency,
    default_time_zone,
    partner_phone,
    partner_tax_id,
)
from app.domain.roles import Role
from app.domain.stages import DEFAULT_EDGES, BucketEdges, ProductType, check_bucket_table
from app.models.partner import Partner, PartnerBucket, PartnerClient
from app.pagination import decode_id_cursor, split_page
from app.schemas.partners import BucketTable, PartnerClientCreate, PartnerCreate, PartnerUpdate
from app.security import Principal, hash_secret
from app.services import audit

# Roles that read every partner.
SEES_ALL_PARTNERS: frozenset[Role] = frozenset({Role.ADMIN, Role.MANAGER, Role.AUDITOR})

_BUCKET_FIELD = "bucket_table"
_EDGE_COLUMNS = ("early_from", "mid_from", "late_from", "nonaccrual_from", "chargeoff_from")


@dataclass(frozen=True, slots=True)
class PartnerView:
    """A partner with the bucket edges in force for each product type."""

    partner: Partner
    buckets: dict[ProductType, BucketEdges]


def readable_partners(principal: Principal) -> SelectOfScalar[Partner]:
    """The partners a principal may see: every one for admin, manager and auditor; its own
    for a partner system; none for anyone else (team leads and collectors work accounts,
    not partners)."""
    query = select(Partner)
    if principal.role in SEES_ALL_PARTNERS:
        return query
    if principal.role is Role.PARTNER and principal.partner_id is not None:
        return query.where(col(Partner.id) == principal.partner_id)
    return query.where(false())


# Where the partner's debtors pay (printed on payment agreements).
PAYMENT_FIELDS = (
    "payment_bank_name",
    "payment_clabe",
    "payment_account_holder",
    "payment_cash_stores",
)


def snapshot(partner: Partner) -> dict[str, Any]:
    """What the audit trail keeps of a partner."""
    return {
        "legal_name": partner.legal_name,
        "tax_id": partner.tax_id,
        "country": partner.country,
        "currency": partner.currency,
        "time_zone": partner.time_zone,
        "bucket_table": partner.bucket_table,
        "contact_name": partner.contact_name,
        "contact_email": partner.contact_email,
        "contact_phone": partner.contact_phone,
        **{field: getattr(partner, field) for field in PAYMENT_FIELDS},
        "is_active": partner.is_active,
    }


def _client_snapshot(client: PartnerClient) -> dict[str, Any]:
    return {
        "partner_id": client.partner_id,
        "client_id": client.client_id,
        "name": client.name,
        "is_active": client.is_active,
    }


async def get_partner(
    session: AsyncSession, principal: Principal, partner_id: uuid.UUID
) -> Partner:
    partner = await session.scalar(
        readable_partners(principal).where(col(Partner.id) == partner_id)
    )
    if partner is None:
        raise NotFound({"entity": "partner"})
    return partner


async def _buckets_of(
    session: AsyncSession, partner_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[ProductType, BucketEdges]]:
    found: dict[uuid.UUID, dict[ProductType, BucketEdges]] = defaultdict(dict)
    if not partner_ids:
        return found
    rows = await session.execute(
        core_select(
            col(PartnerBucket.partner_id),
            col(PartnerBucket.product_type),
            col(PartnerBucket.early_from),
            col(PartnerBucket.mid_from),
            col(PartnerBucket.late_from),
            col(PartnerBucket.nonaccrual_from),
            col(PartnerBucket.chargeoff_from),
        ).where(col(PartnerBucket.partner_id).in_(partner_ids))
    )
    for partner_id, product_type, *edges in rows:
        found[partner_id][ProductType(product_type)] = BucketEdges(*edges)
    return found


def _complete(found: Mapping[ProductType, BucketEdges]) -> dict[ProductType, BucketEdges]:
    # Every partner has its three rows; the defaults only cover a row missing by accident.
    return {product: found.get(product, DEFAULT_EDGES) for product in ProductType}


async def with_buckets(session: AsyncSession, partner: Partner) -> PartnerView:
    found = await _buckets_of(session, [partner.id])
    return PartnerView(partner, _complete(found.get(partner.id, {})))


async def read_partner(
    session: AsyncSession, principal: Principal, partner_id: uuid.UUID
) -> PartnerView:
    return await with_buckets(session, await get_partner(session, principal, partner_id))


async def list_partners(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    country: Country | None = None,
    is_active: bool | None = None,
) -> tuple[list[PartnerView], str | None]:
    query = readable_partners(principal)
    after = decode_id_cursor(cursor)
    if after is not None:
        query = query.where(col(Partner.id) > after)
    if country is not None:
        query = query.where(col(Partner.country) == country.value)
    if is_active is not None:
        query = query.where(col(Partner.is_active) == is_active)
    rows = (await session.scalars(query.order_by(col(Partner.id)).limit(limit + 1))).all()
    partners, next_cursor = split_page(rows, limit, key=lambda p: p.id)
    found = await _buckets_of(session, [p.id for p in partners])
    views = [PartnerView(p, _complete(found.get(p.id, {}))) for p in partners]
    return views, next_cursor


def _bucket_table(
    table: BucketTable | None,
) -> tuple[dict[str, Any] | None, dict[ProductType, BucketEdges]]:
    """(the overrides to keep on the partner, the edges in force per product type)."""
    overrides = table.overrides() if table is not None else {}
    edges = check_bucket_table(overrides, _BUCKET_FIELD)
    return (overrides or None), edges


async def _write_buckets(
    session: AsyncSession, partner_id: uuid.UUID, edges: Mapping[ProductType, BucketEdges]
) -> None:
    """One row per product type, inserted or replaced in one statement (set-based, and
    blind to any rows the session may hold)."""
    statement = insert(PartnerBucket).values(
        [
            {
                "partner_id": partner_id,
                "product_type": product.value,
                "early_from": e.early,
                "mid_from": e.mid,
                "late_from": e.late,
                "nonaccrual_from": e.nonaccrual,
                "chargeoff_from": e.chargeoff,
            }
            for product, e in edges.items()
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["partner_id", "product_type"],
            set_={name: statement.excluded[name] for name in _EDGE_COLUMNS},
        )
    )


async def _check_tax_id_free(
    session: AsyncSession, country: str, tax_id: str, partner_id: uuid.UUID | None = None
) -> None:
    query = select(col(Partner.id)).where(
        col(Partner.country) == country, col(Partner.tax_id) == tax_id
    )
    if partner_id is not None:
        query = query.where(col(Partner.id) != partner_id)
    if await session.scalar(query):
        raise NameTaken("partner_tax_id")


async def create_partner(session: AsyncSession, actor: Principal, data: PartnerCreate) -> Partner:
    """Register a partner with its bucket rows (defaults filled in)."""
    country = data.country
    tax_id = partner_tax_id(country, data.tax_id, "tax_id")
    phone = (
        partner_phone(country, data.contact_phone, "contact_phone") if data.contact_phone else None
    )
    overrides, edges = _bucket_table(data.bucket_table)
    await _check_tax_id_free(session, country.value, tax_id)
    partner = Partner(
        legal_name=data.legal_name,
        tax_id=tax_id,
        country=country.value,
        currency=data.currency or default_currency(country),
        time_zone=data.time_zone or default_time_zone(country),
        bucket_table=overrides,
        contact_name=data.contact_name,
        contact_email=str(data.contact_email) if data.contact_email else None,
        contact_phone=phone,
        payment_bank_name=data.payment_bank_name,
        payment_clabe=data.payment_clabe,
        payment_account_holder=data.payment_account_holder,
        payment_cash_stores=data.payment_cash_stores,
        is_active=data.is_active,
    )
    session.add(partner)
    await session.flush()
    await _write_buckets(session, partner.id, edges)
    await audit.record(
        session, actor, "partner.created", "partner", partner.id, after=snapshot(partner)
    )
    return partner


async def update_partner(
    session: AsyncSession,
    actor: Principal,
    partner_id: uuid.UUID,
    data: PartnerUpdate,
    expected_version: int | None,
) -> Partner:
    """Change what was sent; a new bucket table rewrites the bucket rows. The version moves
    on only when something changed."""
    partner = await session.scalar(
        readable_partners(actor).where(col(Partner.id) == partner_id).with_for_update()
    )
    if partner is None:
        raise NotFound({"entity": "partner"})
    if expected_version is not None and expected_version != partner.version:
        raise VersionMismatch({"current": partner.version})
    changes = data.model_dump(exclude_unset=True)
    country = Country(partner.country)
    before = snapshot(partner)
    if "tax_id" in changes:
        tax_id = partner_tax_id(country, changes["tax_id"], "tax_id")
        if tax_id != partner.tax_id:
            await _check_tax_id_free(session, partner.country, tax_id, partner.id)
        partner.tax_id = tax_id
    if "contact_phone" in changes:
        phone = changes["contact_phone"]
        partner.contact_phone = partner_phone(country, phone, "contact_phone") if phone else None
    if "contact_email" in changes:
        partner.contact_email = str(data.contact_email) if data.contact_email else None
    for field in ("legal_name", "currency", "time_zone", "contact_name", "is_active",
                  *PAYMENT_FIELDS):  # fmt: skip
        if field in changes:
            setattr(partner, field, changes[field])
    edges: dict[ProductType, BucketEdges] | None = None
    if "bucket_table" in changes:
        partner.bucket_table, edges = _bucket_table(data.bucket_table)
    old, new = diff(before, snapshot(partner))
    if not old and not new:
        return partner
    if edges is not None and "bucket_table" in new:
        await _write_buckets(session, partner.id, edges)
    partner.version += 1
    partner.updated_at = datetime.now(UTC)
    session.add(partner)
    await session.flush()
    await audit.record(
        session, actor, "partner.updated", "partner", partner.id, before=old, after=new
    )
    return partner


async def list_clients(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[PartnerClient], str | None]:
    partner = await get_partner(session, principal, partner_id)
    query = select(PartnerClient).where(col(PartnerClient.partner_id) == partner.id)
    after = decode_id_cursor(cursor)
    if after is not None:
        query = query.where(col(PartnerClient.id) > after)
    rows = (await session.scalars(query.order_by(col(PartnerClient.id)).limit(limit + 1))).all()
    return split_page(rows, limit, key=lambda c: c.id)


async def create_client(
    session: AsyncSession,
    actor: Principal,
    partner_id: uuid.UUID,
    data: PartnerClientCreate,
    *,
    client_id: str | None = None,
    secret: str | None = None,
) -> tuple[PartnerClient, str]:
    """New credentials for a partner's system: (the client, its secret in clear, which is
    never stored). The API always generates both; the demo seed passes fixed ones."""
    partner = await get_partner(session, actor, partner_id)
    client_id = client_id or client_id_for(partner.legal_name, secrets.token_hex(4))
    secret = secret or secrets.token_urlsafe(32)
    if await session.scalar(
        select(col(PartnerClient.id)).where(col(PartnerClient.client_id) == client_id)
    ):
        raise NameTaken("client_id")
    client = PartnerClient(
        partner_id=partner.id,
        client_id=client_id,
        secret_hash=await hash_secret(secret),
        name=data.name,
    )
    session.add(client)
    await session.flush()
    await audit.record(
        session,
        actor,
        "partner_client.created",
        "partner_client",
        client.id,
        after=_client_snapshot(client),
    )
    return client, secret


async def deactivate_client(
    session: AsyncSession, actor: Principal, partner_id: uuid.UUID, client_id: str
) -> PartnerClient:
    """The client can no longer get tokens, and the tokens it holds stop working at once.
    Deactivating an inactive client changes nothing and records nothing."""
    partner = await get_partner(session, actor, partner_id)
    client = await session.scalar(
        select(PartnerClient)
        .where(
            col(PartnerClient.partner_id) == partner.id,
            col(PartnerClient.client_id) == client_id,
        )
        .with_for_update()
    )
    if client is None:
        raise NotFound({"entity": "partner_client"})
    if not client.is_active:
        return client
    client.is_active = False
    session.add(client)
    await session.flush()
    await audit.record(
        session,
        actor,
        "partner_client.updated",
        "partner_client",
        client.id,
        before={"is_active": True},
        after={"is_active": False},
    )
    return client


async def rotate_client_secret(
    session: AsyncSession, actor: Principal, partner_id: uuid.UUID, client_id: str
) -> tuple[PartnerClient, str]:
    """A new secret for a partner's system: (the client, the secret in clear, never stored).
    The old secret stops working at once, and so do the tokens issued for it (they carry the
    fingerprint of the credentials, app/services/auth.py). No overlap period: the partner
    installs the new secret, then asks for a token."""
    partner = await get_partner(session, actor, partner_id)
    client = await session.scalar(
        select(PartnerClient)
        .where(
            col(PartnerClient.partner_id) == partner.id,
            col(PartnerClient.client_id) == client_id,
        )
        .with_for_update()
    )
    if client is None:
        raise NotFound({"entity": "partner_client"})
    secret = secrets.token_urlsafe(32)
    client.secret_hash = await hash_secret(secret)
    session.add(client)
    await session.flush()
    await audit.record(
        session,
        actor,
        "partner_client.secret_rotated",
        "partner_client",
        client.id,
        after={"client_secret": "rotated"},
    )
    return client, secret


def partner_today(partner: Partner, now: datetime | None = None) -> date:
    """The partner's business date: what pushes, pauses, history and plans are dated by."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(partner.time_zone)).date()
