from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.contract import ETAG, LOCATION, response_headers
from app.deps import PrincipalDep, SessionDep, StaffDep, require
from app.domain.errors import PermissionDenied
from app.domain.roles import Role
from app.pagination import CursorQuery, LimitQuery, Page
from app.problems import problem_responses
from app.schemas.users import UserCreate, UserRead, UserUpdate
from app.security import Principal
from app.services import users as service
from app.versioning import IfMatch, etag, parse_if_match

router = APIRouter(prefix="/users", tags=["users"])

AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]


@router.get(
    "/me", summary="Who am I", response_model=UserRead, responses=problem_responses(401, 403)
)
async def read_current_user(session: SessionDep, principal: PrincipalDep) -> UserRead:
    """The staff user the token belongs to. Partner systems have no user: 403."""
    if principal.user_id is None:
        raise PermissionDenied({"role": principal.role.value})
    user = await service.get_user(session, principal, principal.user_id)
    return UserRead.model_validate(user)


@router.get(
    "",
    summary="List staff users",
    response_model=Page[UserRead],
    responses=problem_responses(401, 403, 422),
)
async def list_users(
    session: SessionDep,
    principal: Annotated[
        Principal, Depends(require(Role.ADMIN, Role.MANAGER, Role.TEAM_LEAD, Role.AUDITOR))
    ],
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    role: Annotated[Role | None, Query()] = None,
    is_active: Annotated[bool | None, Query()] = None,
) -> Page[UserRead]:
    """Admins, managers and auditors see everyone; a team lead sees their teams."""
    users, next_cursor = await service.list_users(
        session, principal, limit=limit, cursor=cursor, role=role, is_active=is_active
    )
    return Page(items=[UserRead.model_validate(u) for u in users], next_cursor=next_cursor)


@router.post(
    "",
    summary="Create a staff user",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(401, 403, 409, 422)
    | response_headers(201, headers=(ETAG, LOCATION)),
)
async def create_user(
    session: SessionDep, principal: AdminDep, body: UserCreate, response: Response
) -> UserRead:
    user = await service.create_user(session, principal, body)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    response.headers["ETag"] = etag(user.version)
    return UserRead.model_validate(user)


@router.get(
    "/{user_id}",
    summary="Read a staff user",
    response_model=UserRead,
    responses=problem_responses(401, 403, 404, 422) | response_headers(200, headers=(ETAG,)),
)
async def read_user(
    session: SessionDep, principal: StaffDep, user_id: uuid.UUID, response: Response
) -> UserRead:
    user = await service.get_user(session, principal, user_id)
    response.headers["ETag"] = etag(user.version)
    return UserRead.model_validate(user)


@router.patch(
    "/{user_id}",
    summary="Change a staff user (role, skills, activation, password)",
    response_model=UserRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422)
    | response_headers(200, headers=(ETAG,)),
)
async def update_user(
    session: SessionDep,
    principal: AdminDep,
    user_id: uuid.UUID,
    body: UserUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> UserRead:
    user = await service.update_user(session, principal, user_id, body, parse_if_match(if_match))
    response.headers["ETag"] = etag(user.version)
    return UserRead.model_validate(user)


@router.delete(
    "/{user_id}",
    summary="Deactivate a staff user",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def deactivate_user(
    session: SessionDep, principal: AdminDep, user_id: uuid.UUID, if_match: IfMatch = None
) -> Response:
    """Users are never erased (the audit trail names them); their tokens stop working."""
    await service.deactivate_user(session, principal, user_id, parse_if_match(if_match))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
