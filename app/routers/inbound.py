"""Inbound calls: who is calling, and the calls that matched nobody."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.deps import ClockDep, PrincipalDep, SessionDep, SettingsDep
from app.domain.identity import Country
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.common import PlainText
from app.schemas.inbound import (
    InboundLookupRead,
    InboundMatchRead,
    UnidentifiedCallCreate,
    UnidentifiedCallRead,
)
from app.services import inbound as service

router = APIRouter(prefix="/inbound", tags=["interactions"])

UNIDENTIFIED = "/api/v1/inbound/unidentified"


@router.get(
    "/lookup",
    summary="Who is calling? Find the accounts behind an inbound call's number",
    response_model=InboundLookupRead,
    responses=problem_responses(401, 403, 422, 429),
)
async def look_up_inbound_caller(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    now: ClockDep,
    phone: Annotated[
        PlainText,
        Query(
            min_length=1,
            max_length=40,
            description="As the caller id shows it: E.164, national, or Mexico's older forms "
            "(+52 1…, 044, 045, 01).",
        ),
    ],
    country: Annotated[
        Country | None, Query(description="The country the number is written for; default MX.")
    ] = None,
) -> InboundLookupRead:
    """For phone staff (collectors, team leads, managers, admins). The active accounts whose
    debtor has this number (their own numbers, never a reference's) among those the caller
    works: a collector's own, a lead's teams', every one for managers; the caller's own
    first. A collector of the shared inbound desk (skill `inbound`) also gets the other
    accounts, masked (`seen_as: inbound_desk`), and may record the inbound call on them with
    POST /accounts/{id}/interactions (`direction: inbound`) for two hours.

    Every look-up is audited, found or not; the number is never stored in the clear. An
    unknown number answers an empty list and `record_unidentified`, where to keep the call.
    Look-ups per user and minute are limited (429 with `Retry-After`)."""
    found = await service.look_up(session, settings, principal, phone, country, now=now)
    return InboundLookupRead(
        phone_masked=found.phone_masked,
        country=found.country,
        items=[
            InboundMatchRead(
                account_id=m.account_id,
                partner_id=m.partner_id,
                partner_name=m.partner_name,
                debtor_name=m.debtor_name,
                seen_as=m.seen_as,
                assigned_to_me=m.assigned_to_me,
                assigned_collector_id=m.assigned_collector_id,
                contact_point_id=m.contact_point_id,
                phone_masked=m.phone_masked,
                stage=m.stage,
                dpd=m.dpd,
                currency=m.currency,
                balance=m.balance,
            )
            for m in found.items
        ],
        truncated=found.truncated,
        record_unidentified=None if found.items else UNIDENTIFIED,
    )


@router.post(
    "/unidentified",
    summary="Keep an inbound call that matched no debtor",
    status_code=status.HTTP_201_CREATED,
    response_model=UnidentifiedCallRead,
    responses=problem_responses(400, 401, 403, 413, 422),
)
async def record_unidentified_call(
    session: SessionDep,
    principal: PrincipalDep,
    body: UnidentifiedCallCreate,
    now: ClockDep,
) -> UnidentifiedCallRead:
    """Phone staff keep the call (the number sealed at rest, shown masked) for the team lead
    to follow up; audited."""
    call = await service.record_unidentified(
        session,
        principal,
        phone=body.phone,
        country=body.country,
        started_at=body.started_at,
        notes=body.notes,
        now=now,
    )
    return UnidentifiedCallRead.model_validate(call)


@router.get(
    "/unidentified",
    summary="List inbound calls that matched no debtor",
    response_model=Page[UnidentifiedCallRead],
    responses=problem_responses(401, 403, 422),
)
async def list_unidentified_calls(
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[UnidentifiedCallRead]:
    """Newest first. Team leads see those their teams' members (or they) took; managers,
    admins and auditors all; collectors and partner systems none (403)."""
    rows, next_cursor = await service.list_unidentified(
        session, principal, limit=limit, cursor=cursor
    )
    return Page(
        items=[UnidentifiedCallRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )
