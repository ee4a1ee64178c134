from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from app.contract import ETAG, LOCATION, response_headers
from app.deps import SessionDep, require
from app.domain.identity import Country
from app.domain.roles import Role
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.partners import (
    BucketEdges,
    BucketTableRead,
    PartnerClientCreate,
    PartnerClientCreated,
    PartnerClientRead,
    PartnerCreate,
    PartnerRead,
    PartnerUpdate,
)
from app.security import Principal
from app.services import partners as service
from app.versioning import IfMatch, etag, parse_if_match

router = APIRouter(prefix="/partners", tags=["partners"])

# Staff who work with partners, and a partner's own system (which sees only itself).
ReadsPartners = Annotated[
    Principal, Depends(require(Role.ADMIN, Role.MANAGER, Role.AUDITOR, Role.PARTNER))
]
ManagesPartners = Annotated[Principal, Depends(require(Role.ADMIN, Role.MANAGER))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]
ReadsClients = Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))]
ClientIdPath = Annotated[str, Path(max_length=64, description="The client's public id.")]


def _read(view: service.PartnerView) -> PartnerRead:
    partner = view.partner
    return PartnerRead(
        id=partner.id,
        legal_name=partner.legal_name,
        tax_id=partner.tax_id,
        country=Country(partner.country),
        currency=partner.currency,
        time_zone=partner.time_zone,
        bucket_table=BucketTableRead(
            **{
                product.value: BucketEdges(**edges.as_dict())
                for product, edges in view.buckets.items()
            }
        ),
        contact_name=partner.contact_name,
        contact_email=partner.contact_email,
        contact_phone=partner.contact_phone,
        payment_bank_name=partner.payment_bank_name,
        payment_clabe=partner.payment_clabe,
        payment_account_holder=partner.payment_account_holder,
        payment_cash_stores=partner.payment_cash_stores,
        is_active=partner.is_active,
        version=partner.version,
        created_at=partner.created_at,
        updated_at=partner.updated_at,
    )


@router.get(
    "",
    summary="List partners",
    response_model=Page[PartnerRead],
    responses=problem_responses(401, 403, 422),
)
async def list_partners(
    session: SessionDep,
    principal: ReadsPartners,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    country: Annotated[Country | None, Query()] = None,
    is_active: Annotated[bool | None, Query()] = None,
) -> Page[PartnerRead]:
    """Admins, managers and auditors see every partner; a partner's system sees itself."""
    views, next_cursor = await service.list_partners(
        session, principal, limit=limit, cursor=cursor, country=country, is_active=is_active
    )
    return Page(items=[_read(v) for v in views], next_cursor=next_cursor)


@router.post(
    "",
    summary="Register a partner",
    status_code=status.HTTP_201_CREATED,
    response_model=PartnerRead,
    responses=problem_responses(401, 403, 409, 422)
    | response_headers(201, headers=(ETAG, LOCATION)),
)
async def create_partner(
    session: SessionDep, principal: ManagesPartners, body: PartnerCreate, response: Response
) -> PartnerRead:
    """The tax id is validated for the country (a 409 if that country already has it);
    currency and time zone default to the country's."""
    partner = await service.create_partner(session, principal, body)
    view = await service.with_buckets(session, partner)
    response.headers["Location"] = f"/api/v1/partners/{partner.id}"
    response.headers["ETag"] = etag(partner.version)
    return _read(view)


@router.get(
    "/{partner_id}",
    summary="Read a partner",
    response_model=PartnerRead,
    responses=problem_responses(401, 403, 404, 422) | response_headers(200, headers=(ETAG,)),
)
async def read_partner(
    session: SessionDep, principal: ReadsPartners, partner_id: uuid.UUID, response: Response
) -> PartnerRead:
    """With the bucket edges in force for every product type. A partner's system asking for
    another partner gets a 404."""
    view = await service.read_partner(session, principal, partner_id)
    response.headers["ETag"] = etag(view.partner.version)
    return _read(view)


@router.patch(
    "/{partner_id}",
    summary="Change a partner (name, tax id, currency, time zone, buckets, contact, activation)",
    response_model=PartnerRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422)
    | response_headers(200, headers=(ETAG,)),
)
async def update_partner(
    session: SessionDep,
    principal: ManagesPartners,
    partner_id: uuid.UUID,
    body: PartnerUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> PartnerRead:
    """A deactivated partner's systems can no longer log in."""
    partner = await service.update_partner(
        session, principal, partner_id, body, parse_if_match(if_match)
    )
    view = await service.with_buckets(session, partner)
    response.headers["ETag"] = etag(partner.version)
    return _read(view)


@router.get(
    "/{partner_id}/clients",
    summary="List a partner's system clients",
    response_model=Page[PartnerClientRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_partner_clients(
    session: SessionDep,
    principal: ReadsClients,
    partner_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PartnerClientRead]:
    """Secrets are never shown again after their creation."""
    clients, next_cursor = await service.list_clients(
        session, principal, partner_id, limit=limit, cursor=cursor
    )
    return Page(
        items=[PartnerClientRead.model_validate(c) for c in clients], next_cursor=next_cursor
    )


@router.post(
    "/{partner_id}/clients",
    summary="Issue credentials for a partner's system",
    status_code=status.HTTP_201_CREATED,
    response_model=PartnerClientCreated,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_partner_client(
    session: SessionDep,
    principal: AdminDep,
    partner_id: uuid.UUID,
    body: PartnerClientCreate,
) -> PartnerClientCreated:
    """A generated client id and secret for the client-credentials grant. The secret is in
    this answer only: store it now."""
    # Every answer of the API is already Cache-Control: no-store (app/middleware.py).
    client, secret = await service.create_client(session, principal, partner_id, body)
    return PartnerClientCreated(
        **PartnerClientRead.model_validate(client).model_dump(), client_secret=secret
    )


@router.post(
    "/{partner_id}/clients/{client_id}/secret",
    summary="Rotate a partner system's client secret",
    response_model=PartnerClientCreated,
    responses=problem_responses(401, 403, 404, 422),
)
async def rotate_partner_client_secret(
    session: SessionDep, principal: AdminDep, partner_id: uuid.UUID, client_id: ClientIdPath
) -> PartnerClientCreated:
    """A new generated secret, in this answer only. The old secret stops working at once and
    so do the access tokens issued with it: the partner's system asks for a new token with
    the new secret."""
    client, secret = await service.rotate_client_secret(session, principal, partner_id, client_id)
    return PartnerClientCreated(
        **PartnerClientRead.model_validate(client).model_dump(), client_secret=secret
    )


@router.delete(
    "/{partner_id}/clients/{client_id}",
    summary="Deactivate a partner's system client",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
)
async def deactivate_partner_client(
    session: SessionDep, principal: AdminDep, partner_id: uuid.UUID, client_id: ClientIdPath
) -> Response:
    """It can no longer get tokens and the ones it holds stop working. Clients are kept, not
    erased (the audit trail names them)."""
    await service.deactivate_client(session, principal, partner_id, client_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
