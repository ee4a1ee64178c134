from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import ClockDep, PrincipalDep, SessionDep
from app.domain.compliance_incidents import IncidentStatus
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.compliance_incidents import ComplianceIncidentRead, ComplianceIncidentResolve
from app.services import compliance_incidents

router = APIRouter(prefix="/compliance/incidents", tags=["compliance"])


@router.get(
    "",
    summary="List compliance incidents: recorded contacts that broke the law",
    response_model=Page[ComplianceIncidentRead],
    responses=problem_responses(401, 403, 422),
)
async def list_compliance_incidents(
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[IncidentStatus | None, Query()] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ComplianceIncidentRead]:
    """Newest first. A contact recorded against a hard rule of the law (with its citation)
    opens one; policy-only breaches stay on the interaction's verdict. Team leads see those
    of their teams' accounts; managers, admins and auditors all; collectors and partner
    systems none (403)."""
    rows, next_cursor = await compliance_incidents.list_incidents(
        session, principal, status=status, limit=limit, cursor=cursor
    )
    return Page(
        items=[ComplianceIncidentRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post(
    "/{incident_id}/resolve",
    summary="Resolve a compliance incident with a note",
    response_model=ComplianceIncidentRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def resolve_compliance_incident(
    session: SessionDep,
    principal: PrincipalDep,
    incident_id: uuid.UUID,
    body: ComplianceIncidentResolve,
    now: ClockDep,
) -> ComplianceIncidentRead:
    """A team lead (of the account's team) or a manager closes the case, saying what was
    found and done; audited. A second resolution answers 409
    `compliance_incident_resolved`."""
    incident = await compliance_incidents.resolve_incident(
        session, principal, incident_id, body.note, now
    )
    return ComplianceIncidentRead.model_validate(incident)
