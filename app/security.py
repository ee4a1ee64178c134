"""Passwords (argon2), access tokens (JWT via python-jose) and the authenticated principal.

Tokens carry ``sub``, ``role``, ``exp``, ``iat``, ``jti``, ``iss`` and, for partner systems,
``partner_id``. Only the configured algorithm is accepted when decoding, which rules out
``alg: none`` and HS/RS swaps. The principal is re-read from the database, or taken from a
per-process cache for at most ``principal_cache_seconds`` (app/services/principal_cache.py):
a deactivated user or client loses access at once when the change is made through this
process, and within that window otherwise.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from jose import JWTError, jwt

from app.config import Settings
from app.domain.errors import InvalidClient, InvalidInput, NotAuthenticated
from app.domain.roles import Role, Skill
from app.i18n import N_

_hasher = PasswordHasher()


@functools.cache
def timing_equaliser() -> str:
    """The hash verified against when the user name is unknown, so both failures cost the
    same time. Made on first need, not at import (~0.5 s of CPU every process and command
    would pay); the API makes it at start-up (app.main), before its first login."""
    return _hasher.hash("cartera-timing-equaliser")


# argon2 is slow on purpose (tens of milliseconds of CPU). It runs in worker threads so the
# event loop keeps serving other requests, and at most this many at once per process so a
# flood of logins cannot take every thread.
_HASHING = anyio.CapacityLimiter(4)


def hash_secret_now(secret: str) -> str:
    """Blocking; for scripts and tests. Request handlers use :func:`hash_secret`."""
    return _hasher.hash(secret)


def _verify_now(secret_hash: str | None, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash or timing_equaliser(), secret) and secret_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_secret(secret: str) -> str:
    return await anyio.to_thread.run_sync(hash_secret_now, secret, limiter=_HASHING)


async def verify_secret(secret_hash: str | None, secret: str) -> bool:
    """True when ``secret`` matches; an unknown hash (None) costs the same time and fails."""
    return await anyio.to_thread.run_sync(_verify_now, secret_hash, secret, limiter=_HASHING)


def credentials_fingerprint(secret_hash: str) -> str:
    """Changes whenever the password or client secret does; tokens carry it (claim ``pwf``)
    so new credentials end the sessions of the old ones. A digest of the (salted) hash
    reveals nothing about the secret."""
    return hashlib.sha256(secret_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a staff user or a partner system."""

    subject: str
    role: Role
    user_id: uuid.UUID | None = None
    username: str | None = None
    skills: frozenset[Skill] = frozenset()
    partner_id: uuid.UUID | None = None
    client_id: str | None = None

    @property
    def audit_id(self) -> str:
        return self.subject


SYSTEM = Principal(subject="system", role=Role.ADMIN)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What the token endpoint answers (RFC 6749 §5.1): an access token and, for a staff
    session, the refresh token to renew it with (partner systems get none, §4.4.3)."""

    access_token: str
    expires_in: int
    jti: str
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


def _signing_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "RS256":
        if settings.jwt_private_key is None:
            raise RuntimeError("RS256 needs CARTERA_JWT_PRIVATE_KEY")
        return settings.jwt_private_key.get_secret_value()
    return settings.jwt_secret.get_secret_value()


def _verifying_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "RS256":
        if not settings.jwt_public_key:
            raise RuntimeError("RS256 needs CARTERA_JWT_PUBLIC_KEY")
        return settings.jwt_public_key
    return settings.jwt_secret.get_secret_value()


def issue_token(
    settings: Settings,
    *,
    subject: str,
    role: Role,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> IssuedToken:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    jti = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "sub": subject,
        "role": role.value,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": jti,
        **(extra or {}),
    }
    token = jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)
    return IssuedToken(token, int(lifetime.total_seconds()), jti)


IAT_LEEWAY_SECONDS = 60


def decode_token(settings: Settings, token: str) -> dict[str, Any]:
    """The verified claims, or NotAuthenticated for anything wrong with the token."""
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise NotAuthenticated({"reason": "malformed"}) from exc
    if header.get("alg") != settings.jwt_algorithm:
        raise NotAuthenticated({"reason": "algorithm"})
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _verifying_key(settings),
            algorithms=[settings.jwt_algorithm],
            issuer=settings.jwt_issuer,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_sub": True,
                "require_jti": True,
            },
        )
    except JWTError as exc:
        raise NotAuthenticated({"reason": "invalid"}) from exc
    # A token "issued" in the future would outlive its lifetime: only our own clock's drift
    # is allowed.
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or issued > time.time() + IAT_LEEWAY_SECONDS:
        raise NotAuthenticated({"reason": "invalid"})
    # We never issue a token that lives longer than the configured lifetime: one that claims
    # to was signed elsewhere (a leaked or default key), whatever its expiry.
    expires = claims.get("exp")
    lifetime = settings.access_token_minutes * 60
    if not isinstance(expires, int | float) or expires - issued > lifetime:
        raise NotAuthenticated({"reason": "invalid"})
    return claims


# The debtor's self-service portal: its session tokens name this audience, which staff
# tokens never carry (and staff decoding refuses any token that names an audience).
PORTAL_AUDIENCE = "cartera-portal"


def issue_portal_token(
    settings: Settings, *, link_id: uuid.UUID, account_id: uuid.UUID, now: datetime
) -> IssuedToken:
    """A debtor's portal session: bound to one link and its one account."""
    lifetime = timedelta(minutes=settings.portal_session_minutes)
    jti = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": PORTAL_AUDIENCE,
        "sub": f"portal:{link_id}",
        "acc": str(account_id),
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": jti,
    }
    token = jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)
    return IssuedToken(token, int(lifetime.total_seconds()), jti)


def decode_portal_token(settings: Settings, token: str) -> tuple[uuid.UUID, uuid.UUID, datetime]:
    """(link id, account id, issued at) of a valid portal session token; NotAuthenticated for
    any other (a staff token, another audience, a forged, expired or over-long one)."""
    try:
        if jwt.get_unverified_header(token).get("alg") != settings.jwt_algorithm:
            raise NotAuthenticated({"reason": "algorithm"})
        claims: dict[str, Any] = jwt.decode(
            token,
            _verifying_key(settings),
            algorithms=[settings.jwt_algorithm],
            audience=PORTAL_AUDIENCE,
            issuer=settings.jwt_issuer,
            options={"require_exp": True, "require_iat": True, "require_sub": True,
                     "require_jti": True, "require_aud": True},
        )  # fmt: skip
    except JWTError as exc:
        raise NotAuthenticated({"reason": "invalid"}) from exc
    issued, expires = claims.get("iat"), claims.get("exp")
    if (
        claims.get("aud") != PORTAL_AUDIENCE
        or not isinstance(issued, int | float)
        or not isinstance(expires, int | float)
        or issued > time.time() + IAT_LEEWAY_SECONDS
        or expires - issued > settings.portal_session_minutes * 60
    ):
        raise NotAuthenticated({"reason": "invalid"})
    subject, account = str(claims.get("sub", "")), str(claims.get("acc", ""))
    kind, _, link = subject.partition(":")
    try:
        if kind != "portal":
            raise ValueError(kind)
        return uuid.UUID(link), uuid.UUID(account), datetime.fromtimestamp(issued, UTC)
    except ValueError as exc:
        raise NotAuthenticated({"reason": "invalid"}) from exc


@dataclass(frozen=True, slots=True)
class PasswordGrant:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    refresh_token: str


def staff_grant(
    grant_type: str | None,
    username: str | None,
    password: str | None,
    refresh_token: str | None,
) -> PasswordGrant | RefreshGrant:
    """The grant a staff token request makes: ``password`` (the default when no
    ``grant_type`` is sent) with a user name and password, or ``refresh_token`` with the
    token alone. A field of the other grant is refused rather than ignored."""
    if grant_type == "refresh_token":
        if refresh_token is None:
            raise InvalidInput("refresh_token", N_("required by the refresh_token grant"))
        for name, value in (("username", username), ("password", password)):
            if value is not None:
                raise InvalidInput(name, N_("not part of the refresh_token grant"))
        return RefreshGrant(refresh_token)
    if refresh_token is not None:
        raise InvalidInput("refresh_token", N_("not part of the password grant"))
    if username is None:
        raise InvalidInput("username", N_("required by the password grant"))
    if password is None:
        raise InvalidInput("password", N_("required by the password grant"))
    return PasswordGrant(username, password)


def client_credentials(
    authorization: str | None, form_id: str | None, form_secret: str | None
) -> tuple[str, str]:
    """The (client id, secret) of a client-credentials request, from HTTP Basic (each part
    form-urlencoded first, RFC 6749 §2.3.1) or from the form; using both is refused."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        if form_id is not None or form_secret is not None:
            raise InvalidInput("header.authorization", N_("use HTTP Basic or the form, not both"))
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidClient() from exc
        raw_id, colon, raw_secret = decoded.partition(":")
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if not colon or not client_id or "\x00" in client_id + secret or len(client_id) > 64:
            raise InvalidClient()
        return client_id, secret
    if form_id is None or form_secret is None:
        raise InvalidClient()
    return form_id, form_secret
