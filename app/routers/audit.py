from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.deps import ReadSessionDep, require
from app.domain.roles import Role
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.audit import AuditEventRead
from app.schemas.common import PlainText, UtcDatetime
from app.security import Principal
from app.services import audit as service

router = APIRouter(prefix="/audit", tags=["audit"])

Text = Annotated[PlainText | None, Query(max_length=80)]


@router.get(
    "",
    summary="Read the audit trail",
    response_model=Page[AuditEventRead],
    responses=problem_responses(401, 403, 422),
)
async def list_audit_events(
    session: ReadSessionDep,
    principal: Annotated[Principal, Depends(require(Role.AUDITOR, Role.ADMIN))],
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    entity_type: Text = None,
    entity_id: Text = None,
    actor_id: Text = None,
    action: Text = None,
    occurred_from: Annotated[UtcDatetime | None, Query(description="Inclusive, ISO 8601.")] = None,
    occurred_to: Annotated[UtcDatetime | None, Query(description="Exclusive, ISO 8601.")] = None,
) -> Page[AuditEventRead]:
    """Newest first. Every change made through Cartera is here, with its before/after diff,
    who made it and the request it came in; `cartera audit verify` checks the hash chain."""
    events, next_cursor = await service.list_events(
        session,
        service.EventFilter(
            entity_type=entity_type,
            entity_id=entity_id,
            actor_id=actor_id,
            action=action,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        ),
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[AuditEventRead.model_validate(e) for e in events], next_cursor=next_cursor)
