from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.contract import ETAG, LOCATION, response_headers
from app.deps import SessionDep, StaffDep, require
from app.domain.roles import Role
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.teams import TeamCreate, TeamRead, TeamUpdate
from app.security import Principal
from app.services import teams as service
from app.versioning import IfMatch, etag, parse_if_match

router = APIRouter(prefix="/teams", tags=["teams"])

ManagesTeams = Annotated[Principal, Depends(require(Role.ADMIN, Role.MANAGER))]


def _read(view: service.TeamView) -> TeamRead:
    return TeamRead(
        id=view.team.id,
        name=view.team.name,
        lead_id=view.team.lead_id,
        member_ids=view.member_ids,
        version=view.team.version,
        created_at=view.team.created_at,
        updated_at=view.team.updated_at,
    )


@router.get(
    "",
    summary="List teams",
    response_model=Page[TeamRead],
    responses=problem_responses(401, 403, 422),
)
async def list_teams(
    session: SessionDep,
    principal: Annotated[
        Principal,
        Depends(require(Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.COLLECTOR, Role.AUDITOR)),
    ],
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[TeamRead]:
    """Everyone staff may list; a lead sees the teams they lead, a collector their own."""
    views, next_cursor = await service.list_teams(session, principal, limit=limit, cursor=cursor)
    return Page(items=[_read(v) for v in views], next_cursor=next_cursor)


@router.post(
    "",
    summary="Create a team",
    status_code=status.HTTP_201_CREATED,
    response_model=TeamRead,
    responses=problem_responses(401, 403, 409, 422)
    | response_headers(201, headers=(ETAG, LOCATION)),
)
async def create_team(
    session: SessionDep, principal: ManagesTeams, body: TeamCreate, response: Response
) -> TeamRead:
    view = await service.create_team(session, principal, body)
    response.headers["Location"] = f"/api/v1/teams/{view.team.id}"
    response.headers["ETag"] = etag(view.team.version)
    return _read(view)


@router.get(
    "/{team_id}",
    summary="Read a team",
    response_model=TeamRead,
    responses=problem_responses(401, 403, 404, 422) | response_headers(200, headers=(ETAG,)),
)
async def read_team(
    session: SessionDep, principal: StaffDep, team_id: uuid.UUID, response: Response
) -> TeamRead:
    view = await service.get_team(session, principal, team_id)
    response.headers["ETag"] = etag(view.team.version)
    return _read(view)


@router.patch(
    "/{team_id}",
    summary="Rename a team, change its lead or its members",
    response_model=TeamRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422)
    | response_headers(200, headers=(ETAG,)),
)
async def update_team(
    session: SessionDep,
    principal: ManagesTeams,
    team_id: uuid.UUID,
    body: TeamUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> TeamRead:
    """With `If-Match`, refused (412) when the team changed since it was read; its ETag moves
    on with any change to the name, the lead or the members (also when a member moves to
    another team or leaves collecting)."""
    view = await service.update_team(session, principal, team_id, body, parse_if_match(if_match))
    response.headers["ETag"] = etag(view.team.version)
    return _read(view)
