"""Callbacks: the calls debtors asked for at a time, for the collector and the lead."""

from __future__ import annotations

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from app.deps import ClockDep, PrincipalDep, SessionDep, SettingsDep
from app.domain.callbacks import CallbackStatus
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.callbacks import CallbackRead
from app.schemas.contact_check import ReasonRead
from app.services import callbacks as service

router = APIRouter(tags=["interactions"])


def callback_read(found: service.CallbackView) -> CallbackRead:
    callback = found.callback
    return CallbackRead(
        id=callback.id,
        account_id=callback.account_id,
        partner_id=callback.partner_id,
        interaction_id=callback.interaction_id,
        collector_id=callback.collector_id,
        status=found.status,
        local_time=callback.agreed_at.astimezone(ZoneInfo(callback.time_zone)).replace(tzinfo=None),
        time_zone=callback.time_zone,
        agreed_at=callback.agreed_at,
        due_at=callback.due_at,
        deferred_reasons=[ReasonRead.model_validate(r) for r in callback.deferred_reasons],
        missed_after=found.missed_after,
        done_at=callback.done_at,
        done_interaction_id=callback.done_interaction_id,
        cancelled_at=callback.cancelled_at,
        cancel_reason=callback.cancel_reason,
        created_at=callback.created_at,
    )


@router.get(
    "/callbacks",
    summary="List callbacks: due, missed, done",
    response_model=Page[CallbackRead],
    responses=problem_responses(401, 403, 422),
)
async def list_callbacks(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    now: ClockDep,
    status: Annotated[CallbackStatus | None, Query()] = None,
    collector_id: Annotated[
        uuid.UUID | None, Query(description="Callbacks heading this collector's queue.")
    ] = None,
    team_id: Annotated[
        uuid.UUID | None, Query(description="Callbacks of this team's collectors.")
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CallbackRead]:
    """Latest due first. A callback is `due` from its `due_at` and `missed` once it has been
    due longer than the grace (`CARTERA_CALLBACK_GRACE_MINUTES`, 30 by default) with no
    interaction on the account since; an interaction recorded by anyone once it was due
    makes it `done`. Collectors see those of their accounts, team leads their teams',
    managers, admins and auditors all, partner systems those of their own portfolio."""
    rows, next_cursor = await service.list_callbacks(
        session,
        settings,
        principal,
        status=status,
        collector_id=collector_id,
        team_id=team_id,
        now=now,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[callback_read(r) for r in rows], next_cursor=next_cursor)
