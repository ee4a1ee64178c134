from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form

from app.deps import SessionDep, SettingsDep
from app.problems import problem_responses
from app.schemas.auth import TokenResponse
from app.schemas.common import PlainText
from app.services import auth as service

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    summary="Log in as staff (OAuth2 password grant)",
    response_model=TokenResponse,
    responses=problem_responses(401, 422, 429),
)
async def issue_staff_token(
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[PlainText, Form(min_length=1, max_length=64)],
    password: Annotated[PlainText, Form(min_length=1, max_length=128)],
    grant_type: Annotated[Literal["password"] | None, Form()] = None,
    scope: Annotated[PlainText, Form(max_length=512)] = "",
) -> TokenResponse:
    """Form-encoded `username` and `password`. Unknown user, wrong password and inactive
    account give the same 401; after repeated failures the user name is locked for a while
    (429 with `Retry-After`)."""
    issued = await service.login_with_password(
        session, settings, username, password, datetime.now(UTC)
    )
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/client-token",
    summary="Authenticate a partner system (OAuth2 client credentials)",
    response_model=TokenResponse,
    responses=problem_responses(401, 422),
)
async def issue_client_token(
    session: SessionDep,
    settings: SettingsDep,
    grant_type: Annotated[Literal["client_credentials"], Form()],
    client_id: Annotated[PlainText, Form(min_length=1, max_length=64)],
    client_secret: Annotated[PlainText, Form(min_length=1, max_length=256)],
    scope: Annotated[PlainText, Form(max_length=512)] = "",
) -> TokenResponse:
    """Form-encoded as RFC 6749 §4.4: the token carries role `partner` and the partner's id."""
    issued = await service.login_client(
        session, settings, client_id, client_secret, datetime.now(UTC)
    )
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)
