"""Typed FastAPI dependencies: the session, the settings and the authenticated principal.

Dependencies are ``async def`` even when they await nothing: FastAPI runs a plain ``def``
dependency in a worker thread, a thread hop on every request for reading an attribute.

Routers declare who may call them with ``Depends(require(Role.ADMIN, …))``; object-level
visibility (which rows a principal may see) lives in each resource's query helper.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import OAuth2
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from app.config import Settings
from app.db import Database, get_session
from app.domain.auth import IPAddress, client_address
from app.domain.errors import NotAuthenticated, PermissionDenied
from app.domain.reports import wants_csv
from app.domain.roles import STAFF_ROLES, Role
from app.i18n import Language, negotiate
from app.security import Principal
from app.services import snapshots
from app.services.auth import principal_from_token
from app.services.principal_cache import PrincipalCache

API_PREFIX = "/api/v1"

SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_read_session(request: Request, session: SessionDep) -> AsyncIterator[AsyncSession]:
    """The session of a read that may be a few seconds behind, for the operations nobody
    reads right after writing what they show (reports, the audit trail): on the read
    replica while it is up and close enough (``CARTERA_REPLICA_URL``, app/db.py), otherwise
    the request's own session on the primary. Who the caller is comes from the primary
    either way (:data:`PrincipalDep` reads through :data:`SessionDep`). Only for GET
    operations: the replica refuses writes."""
    database: Database = request.app.state.database
    async with database.reading(session) as read:
        yield read


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


async def get_snapshot_read_session(
    request: Request, session: SessionDep
) -> AsyncIterator[AsyncSession]:
    """:func:`get_read_session` for the reports read from the daily snapshots (roll rates,
    recovery, agents). Those first fold in the back-dated changes marked since
    (:func:`app.services.snapshots.refresh_stale`), a write the replica cannot take: while
    the replica holds such marks the report runs on the primary, which folds them in (and
    so clears them for the reports after it)."""
    database: Database = request.app.state.database
    async with database.reading(session) as read:
        if read is session or not await snapshots.any_stale(read):
            yield read
            return
    yield session


SnapshotReadSessionDep = Annotated[
    AsyncSession, Depends(get_snapshot_read_session, scope="function")
]


async def get_export_session(request: Request, session: SessionDep) -> AsyncIterator[AsyncSession]:
    """A cross-account list's session: its CSV export (``Accept: text/csv``) reads like a
    report, from the replica when usable; its JSON pages stay on the primary, being what
    staff work from between their own writes."""
    if not wants_csv(request.headers.get("accept")):
        yield session
        return
    database: Database = request.app.state.database
    async with database.reading(session) as read:
        yield read


ExportSessionDep = Annotated[AsyncSession, Depends(get_export_session, scope="function")]


async def app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests build apps with their own)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]


async def app_database(request: Request) -> Database:
    """The app's database, for work that outlives the request's session (a download's bytes
    are streamed after the request's transaction has ended)."""
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(app_database)]


async def server_clock() -> datetime:
    """The server's clock: what a request is judged at (the contact law's "now") and what
    outbound contacts are stamped by. One dependency, so tests can replace it through
    ``app.dependency_overrides`` instead of depending on when they run."""
    return datetime.now(UTC)


ClockDep = Annotated[datetime, Depends(server_clock)]


async def reader_language(request: Request) -> Language:
    """The language of the answer (``Accept-Language``, as app/middleware.py says it in
    ``Content-Language``): texts kept with values are rendered in it at the edge."""
    return negotiate(request.headers.get("accept-language"))


LanguageDep = Annotated[Language, Depends(reader_language)]


async def client_ip(request: Request, settings: SettingsDep) -> IPAddress | None:
    """The caller's address: the socket peer, or what ``X-Forwarded-For`` says when the peer
    is one of ``settings.trusted_proxies`` (:func:`app.domain.auth.client_address`)."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.getlist("x-forwarded-for")
    return client_address(peer, forwarded, settings.trusted_proxies)


ClientAddressDep = Annotated[IPAddress | None, Depends(client_ip)]


class _BearerOAuth2(OAuth2):
    """OAuth2 bearer tokens from either grant; documents both flows in the contract."""

    def __init__(self) -> None:
        super().__init__(
            flows=OAuthFlows(
                password=OAuthFlowPassword(
                    tokenUrl=f"{API_PREFIX}/auth/token", refreshUrl=f"{API_PREFIX}/auth/token"
                ),
                clientCredentials=OAuthFlowClientCredentials(
                    tokenUrl=f"{API_PREFIX}/auth/client-token"
                ),
            ),
            scheme_name="OAuth2",
            description="Staff log in with the password grant, partner systems with client "
            "credentials; both give a short-lived JWT bearer token. Staff also get a refresh "
            "token, which renews the session (grant_type=refresh_token) and rotates on use.",
            auto_error=False,
        )

    async def __call__(self, request: HTTPConnection) -> str | None:
        authorization = request.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()


bearer = _BearerOAuth2()


async def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(bearer)],
) -> Principal:
    if token is None or len(token) > 8192:
        raise NotAuthenticated({"reason": "missing"})
    cache: PrincipalCache | None = getattr(request.app.state, "principal_cache", None)
    return await principal_from_token(session, settings, token, cache)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that admits only the given roles (403 for the others)."""
    allowed = frozenset(roles)

    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise PermissionDenied({"role": principal.role.value})
        return principal

    return check


# Any staff role; partner systems get 403 (people and teams are not theirs to read).
StaffDep = Annotated[Principal, Depends(require(*STAFF_ROLES))]


# Idempotency-Key on the writes a partner system retries. The contract says it is required,
# yet the parameter is optional here: the service answers a missing or malformed key with a
# 400 `idempotency_key_required` (app.services.assignments.check_idempotency_key) where
# FastAPI would answer 422, so the operation states the header through `openapi_extra`.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"  # 1 to 200 printable ASCII characters
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)]


def idempotency_key_parameter(description: str) -> dict[str, Any]:
    """The contract's Idempotency-Key parameter, for ``openapi_extra={"parameters": [...]}``."""
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": True,
        "description": description,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": IDEMPOTENCY_KEY_PATTERN,
        },
    }
