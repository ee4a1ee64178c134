"""The collector's work queue: what to work now, and taking the next account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.deps import ClockDep, LanguageDep, PrincipalDep, SessionDep, SettingsDep
from app.i18n import Language
from app.problems import problem_responses
from app.schemas.worklists import (
    WorkChannelRead,
    WorkClaimRead,
    WorkItemRead,
    WorklistRead,
    WorkReasonRead,
)
from app.services import worklists as service

router = APIRouter(tags=["work"])


def work_item_read(item: service.WorkItem, language: Language) -> WorkItemRead:
    return WorkItemRead(
        account_id=item.account_id,
        partner_id=item.partner_id,
        external_ref=item.external_ref,
        debtor_name=item.debtor_name,
        stage=item.stage,
        dpd=item.dpd,
        currency=item.currency,
        total=item.total,
        past_due_amount=item.past_due_amount,
        score=item.priority.score,
        reasons=[
            WorkReasonRead(code=r.code, points=r.points, detail=r.text.render(language))
            for r in item.priority.reasons
        ],
        channel=WorkChannelRead(
            channel=item.channel.channel,
            contact_point_id=item.channel.contact_point_id,
            kind=item.channel.kind,
            value_masked=item.channel.value_masked,
            time_zone=item.channel.time_zone,
            local_time=item.channel.local_time,
        ),
        claimed_until=item.claimed_until,
    )


@router.get(
    "/worklists/me",
    summary="My accounts that may be contacted now, in priority order",
    response_model=WorklistRead,
    responses=problem_responses(401, 403, 422),
)
async def get_my_worklist(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    now: ClockDep,
    language: LanguageDep,
    limit: Annotated[int, Query(ge=1, le=200, description="How many accounts, 1 to 200.")] = 20,
) -> WorklistRead:
    """Collectors only. The caller's active assigned accounts that the contact law (in the
    contact point's local time) and the partner's strategy allow contacting now, highest
    score first (ties by account id), each with the reasons behind its score and the
    channel and contact point to use. Accounts another session has claimed are left out."""
    items = await service.my_worklist(session, settings, principal, limit=limit, now=now)
    return WorklistRead(items=[work_item_read(i, language) for i in items], evaluated_at=now)


@router.post(
    "/worklists/me/next",
    summary="Claim the next account to work",
    response_model=WorkClaimRead,
    responses={
        204: {"description": "Nothing may be contacted now."},
        **problem_responses(401, 403),
    },
)
async def claim_next_account(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    now: ClockDep,
    language: LanguageDep,
    response: Response,
) -> WorkClaimRead | Response:
    """Collectors only. Atomically claims the caller's top account that may be contacted now
    and that no session holds, for five minutes: no other session (the caller's own
    included) is given it meanwhile. Recording an interaction on it releases the claim;
    an unused claim lapses. 204 when no account may be contacted now."""
    claimed = await service.claim_next(session, settings, principal, now=now)
    if claimed is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    item = work_item_read(claimed.item, language)
    return WorkClaimRead(**item.model_dump(), claim_expires_at=claimed.expires_at)
