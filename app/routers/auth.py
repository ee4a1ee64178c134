from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Header

from app.deps import ClientAddressDep, SessionDep, SettingsDep
from app.problems import problem_responses
from app.schemas.auth import TokenResponse
from app.schemas.common import PlainText
from app.security import client_credentials
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
    address: ClientAddressDep,
    username: Annotated[PlainText, Form(min_length=1, max_length=64)],
    password: Annotated[PlainText, Form(min_length=1, max_length=128)],
    grant_type: Annotated[Literal["password"] | None, Form()] = None,
    scope: Annotated[PlainText, Form(max_length=512)] = "",
) -> TokenResponse:
    """Form-encoded `username` and `password`. Unknown user, wrong password and inactive
    account give the same 401; after repeated failures the user name is locked for a while
    for the client's address, and an address that fails too often under any names is locked
    for all of them (429 with `Retry-After`)."""
    issued = await service.login_with_password(
        session, settings, username, password, datetime.now(UTC), address
    )
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/client-token",
    summary="Authenticate a partner system (OAuth2 client credentials)",
    response_model=TokenResponse,
    responses=problem_responses(401, 422, 429),
)
async def issue_client_token(
    session: SessionDep,
    settings: SettingsDep,
    address: ClientAddressDep,
    grant_type: Annotated[Literal["client_credentials"], Form()],
    client_id: Annotated[PlainText | None, Form(min_length=1, max_length=64)] = None,
    client_secret: Annotated[PlainText | None, Form(min_length=1, max_length=256)] = None,
    scope: Annotated[PlainText, Form(max_length=512)] = "",
    authorization: Annotated[
        str | None, Header(description="`Basic` with the client id and secret (RFC 6749 §2.3.1).")
    ] = None,
) -> TokenResponse:
    """RFC 6749 §4.4, form-encoded. The client authenticates with HTTP Basic or with
    `client_id` and `client_secret` in the form (one of the two, not both). The token carries
    role `partner` and the partner's id."""
    credentials = client_credentials(authorization, client_id, client_secret)
    issued = await service.login_client(session, settings, *credentials, datetime.now(UTC), address)
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)
