from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import ClockDep, LanguageDep, PrincipalDep, SessionDep
from app.domain.compliance_incidents import IncidentStatus
from app.domain.interactions import reasons_for
from app.i18n import Language
from app.models.compliance_incident import ComplianceIncident
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.compliance_incidents import (
    ComplianceIncidentRead,
    ComplianceIncidentResolve,
    IncidentReasonRead,
)
from app.services import compliance_incidents

router = APIRouter(prefix="/compliance/incidents", tags=["compliance"])


def _read(incident: ComplianceIncident, language: Language) -> ComplianceIncidentRead:
    read = ComplianceIncidentRead.model_validate(incident)
    read.reasons = [
        IncidentReasonRead.model_validate(reason)
        for reason in reasons_for(incident.reasons, language)
    ]
    return read


@router.get(
    "",
    summary="List compliance incidents: recorded contacts that broke the law",
    response_model=Page[ComplianceIncidentRead],
    responses=problem_responses(401, 403, 422),
)
async def list_compliance_incidents(
    session: SessionDep,
    principal: PrincipalDep,
    language: LanguageDep,
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
    return Page(items=[_read(r, language) for r in rows], next_cursor=next_cursor)


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
    language: LanguageDep,
) -> ComplianceIncidentRead:
    """A team lead (of the account's team) or a manager closes the case, saying what was
    found and done; audited. A second resolution answers 409
    `compliance_incident_resolved`."""
    incident = await compliance_incidents.resolve_incident(
        session, principal, incident_id, body.note, now
    )
    return _read(incident, language)
