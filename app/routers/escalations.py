from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from app.deps import PrincipalDep, SessionDep
from app.models.escalation import Escalation
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.routers.listing import CollectorFilter, PartnerFilter, TeamFilter, scope_of
from app.schemas.accounts import AccountLabelRead
from app.schemas.escalations import (
    EscalationCreate,
    EscalationDetail,
    EscalationListItem,
    EscalationNoteCreate,
    EscalationNoteRead,
    EscalationRead,
    EscalationResolve,
)
from app.services import escalations as service
from app.services.accounts import AccountLabel

router = APIRouter(prefix="/escalations", tags=["escalations"])


def escalation_item(escalation: Escalation, label: AccountLabel) -> EscalationListItem:
    return EscalationListItem(
        **dict(EscalationRead.model_validate(escalation)),
        account=AccountLabelRead.model_validate(label),
    )


@router.post(
    "",
    summary="Refer a case to management",
    status_code=status.HTTP_201_CREATED,
    response_model=EscalationRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def create_escalation(
    session: SessionDep, principal: PrincipalDep, body: EscalationCreate
) -> EscalationRead:
    """A collector escalates an unwilling or special case on an account they work."""
    escalation = await service.create_escalation(session, principal, body.account_id, body.reason)
    return EscalationRead.model_validate(escalation)


@router.get(
    "",
    summary="List escalations",
    response_model=Page[EscalationListItem],
    responses=problem_responses(401, 403, 422),
)
async def list_escalations(
    session: SessionDep,
    principal: PrincipalDep,
    status_filter: Annotated[
        Literal["open", "taken", "resolved"] | None, Query(alias="status")
    ] = None,
    partner_id: PartnerFilter = None,
    collector_id: CollectorFilter = None,
    team_id: TeamFilter = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[EscalationListItem]:
    """Oldest first, those on the accounts the caller may see (a collector: their own; a
    lead: their teams'; a manager: all), each with its account's reference, debtor and
    collector."""
    page = await service.list_escalations(
        session,
        principal,
        scope_of(partner_id, collector_id, team_id),
        status=status_filter,
        limit=limit,
        cursor=cursor,
    )
    return Page(
        items=[escalation_item(e, page.label_of(e.account_id)) for e in page.rows],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/{escalation_id}/take",
    summary="Take an escalation",
    response_model=EscalationRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def take_escalation(
    session: SessionDep, principal: PrincipalDep, escalation_id: uuid.UUID
) -> EscalationRead:
    return EscalationRead.model_validate(
        await service.take_escalation(session, principal, escalation_id)
    )


@router.post(
    "/{escalation_id}/resolve",
    summary="Resolve an escalation with its outcome",
    response_model=EscalationRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def resolve_escalation(
    session: SessionDep, principal: PrincipalDep, escalation_id: uuid.UUID, body: EscalationResolve
) -> EscalationRead:
    """Leads (their teams') and managers close it with an outcome of the catalogue (GET
    /catalog, `escalation_outcomes`) and a note; `other` needs the note. A resolved
    escalation is a 409 `escalation_resolved`."""
    escalation = await service.resolve_escalation(
        session, principal, escalation_id, body.outcome, body.note
    )
    return EscalationRead.model_validate(escalation)


@router.get(
    "/{escalation_id}",
    summary="Read an escalation with its notes",
    response_model=EscalationDetail,
    responses=problem_responses(401, 403, 404, 422),
)
async def read_escalation(
    session: SessionDep, principal: PrincipalDep, escalation_id: uuid.UUID
) -> EscalationDetail:
    """One on an account the caller may see (partners may not read escalations: 403)."""
    escalation, notes = await service.get_escalation(session, principal, escalation_id)
    return EscalationDetail(
        **dict(EscalationRead.model_validate(escalation)),
        notes=[EscalationNoteRead.model_validate(n) for n in notes],
    )


@router.post(
    "/{escalation_id}/notes",
    summary="Add information to an escalation",
    status_code=status.HTTP_201_CREATED,
    response_model=EscalationNoteRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def add_escalation_note(
    session: SessionDep,
    principal: PrincipalDep,
    escalation_id: uuid.UUID,
    body: EscalationNoteCreate,
) -> EscalationNoteRead:
    """The collector who escalated adds what they learned since; leads and managers what
    they did. Audited. A resolved escalation takes no more notes (409)."""
    note = await service.add_note(session, principal, escalation_id, body.note)
    return EscalationNoteRead.model_validate(note)
