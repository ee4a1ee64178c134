from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Header, Response, status

from app.deps import ClientAddressDep, ClockDep, SessionDep, SettingsDep
from app.problems import problem_responses
from app.schemas.auth import StaffTokenResponse, TokenResponse
from app.schemas.common import PlainText
from app.security import IssuedToken, PasswordGrant, client_credentials, staff_grant
from app.services import auth as service
from app.services import refresh_tokens

router = APIRouter(prefix="/auth", tags=["auth"])

# Our refresh tokens are 43 characters; the bound admits any token a client may send by
# mistake (an access token, say), which is then refused as an invalid grant, not a 422.
REFRESH_TOKEN_MAX = 4096
RefreshTokenForm = Annotated[
    PlainText,
    Form(min_length=1, max_length=REFRESH_TOKEN_MAX, description="A refresh token of the session."),
]


def _staff_answer(issued: IssuedToken) -> StaffTokenResponse:
    assert issued.refresh_token is not None and issued.refresh_expires_in is not None
    return StaffTokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        refresh_expires_in=issued.refresh_expires_in,
    )


@router.post(
    "/token",
    summary="Log in as staff or renew the session (OAuth2 password and refresh-token grants)",
    response_model=StaffTokenResponse,
    responses=problem_responses(401, 422, 429),
)
async def issue_staff_token(
    session: SessionDep,
    settings: SettingsDep,
    address: ClientAddressDep,
    now: ClockDep,
    grant_type: Annotated[
        Literal["password", "refresh_token"] | None,
        Form(description="`password` (the default) or `refresh_token`."),
    ] = None,
    username: Annotated[
        PlainText | None, Form(min_length=1, max_length=64, description="Password grant.")
    ] = None,
    password: Annotated[
        PlainText | None, Form(min_length=1, max_length=128, description="Password grant.")
    ] = None,
    refresh_token: Annotated[
        PlainText | None,
        Form(min_length=1, max_length=REFRESH_TOKEN_MAX, description="Refresh-token grant."),
    ] = None,
    scope: Annotated[PlainText, Form(max_length=512)] = "",
) -> StaffTokenResponse:
    """Form-encoded, RFC 6749 §4.3 and §6.

    **Password grant** (`username`, `password`): unknown user, wrong password and inactive
    account give the same 401; after repeated failures the user name is locked for a while
    for the client's address, and an address that fails too often under any names is locked
    for all of them (429 with `Retry-After`). A login starts a session.

    **Refresh-token grant** (`grant_type=refresh_token`, `refresh_token`): renews the
    session with a new access token *and a new refresh token*; the one sent is spent.
    Sending a spent refresh token again ends the session (it was copied), and so does
    logging out, a new password or deactivation; the session also ends after
    `refresh_expires_in` seconds unused and, whatever happens, two weeks after the login
    (both configurable).
    Any refusal is the same 401 `invalid_grant`: log in again.

    Access tokens of a session stop working when it ends. Partner systems use
    `/auth/client-token` and get no refresh token."""
    grant = staff_grant(grant_type, username, password, refresh_token)
    if isinstance(grant, PasswordGrant):
        issued = await service.login_with_password(
            session, settings, grant.username, grant.password, now, address
        )
    else:
        issued = await service.refresh_staff_session(session, settings, grant.refresh_token, now)
    return _staff_answer(issued)


@router.post(
    "/logout",
    summary="Log out: end the staff session of a refresh token",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(422),
)
async def end_staff_session(
    session: SessionDep, now: ClockDep, refresh_token: RefreshTokenForm
) -> Response:
    """Form-encoded `refresh_token` (the current one, or any earlier one of the session).
    The session's refresh tokens and access tokens stop working at once. The answer is 204
    whether or not the token was known or the session still open (RFC 7009 §2.2), so it
    tells nothing about a token; no bearer token is needed, an expired one is no obstacle."""
    await refresh_tokens.end(session, refresh_token, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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
    role `partner` and the partner's id, and no refresh token (§4.4.3): the system asks for a
    new token with its credentials. Rotating the client's secret ends its tokens."""
    credentials = client_credentials(authorization, client_id, client_secret)
    issued = await service.login_client(session, settings, *credentials, datetime.now(UTC), address)
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)
