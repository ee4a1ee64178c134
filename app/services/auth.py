"""Logging in (password and client-credentials grants) and resolving a token to a principal."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app import locks
from app.config import Settings
from app.domain.auth import (
    Attempt,
    IPAddress,
    Lock,
    LockoutPolicy,
    LockScope,
    LoginLimits,
    address_key,
    locks_begun,
    login_lock,
)
from app.domain.errors import InvalidClient, InvalidCredentials, LoginLocked, NotAuthenticated
from app.domain.roles import Role, Skill
from app.models.partner import Partner, PartnerClient
from app.models.user import LoginAttempt, User
from app.observability import LOGIN_LOCKOUTS, observe_login_failure
from app.security import (
    SYSTEM,
    IssuedToken,
    Principal,
    credentials_fingerprint,
    decode_token,
    issue_token,
    verify_secret,
)
from app.services import audit, refresh_tokens
from app.services.principal_cache import (
    PrincipalCache,
    client_key,
    partner_key,
    session_key,
    user_key,
)

CLIENT_SUBJECT_PREFIX = "client:"


def login_limits(settings: Settings) -> LoginLimits:
    window = timedelta(minutes=settings.login_failure_window_minutes)
    lock_for = timedelta(minutes=settings.login_lock_minutes)
    return LoginLimits(
        name_address=LockoutPolicy(settings.login_max_failures, window, lock_for),
        address=LockoutPolicy(settings.login_address_max_failures, window, lock_for),
    )


# Advisory-lock class for login attempts (the two-key form: its own key space). Its keys are
# hashes of "<address key>|<name>" (one name from one address) and "address|<address key>"
# (the failures of one address); an address key never holds "|" nor is "address".


@dataclass(frozen=True, slots=True)
class _Try:
    """One attempt admitted by :func:`_admit_attempt`, to be recorded by :func:`_record_attempt`."""

    name: str
    address: IPAddress | None
    key: str
    limits: LoginLimits
    pair: list[Attempt]


async def _advisory_lock(session: AsyncSession, key: str) -> None:
    await locks.hold(session, locks.LockClass.LOGIN, key)


async def _failures_from(session: AsyncSession, key: str, since: datetime) -> list[Attempt]:
    rows = await session.scalars(
        select(col(LoginAttempt.attempted_at)).where(
            col(LoginAttempt.address) == key,
            col(LoginAttempt.attempted_at) > since,
            col(LoginAttempt.succeeded).is_(False),
        )
    )
    return [Attempt(at, succeeded=False) for at in rows]


async def _admit_attempt(
    session: AsyncSession, settings: Settings, name: str, address: IPAddress | None, now: datetime
) -> _Try:
    """Serialise the attempts on one name from one address and refuse them while the name is
    locked for that address or the address is locked for every name.

    The lock (held to the end of the transaction) makes concurrent guesses of one name from
    one address queue up and each see the failures before it, so a burst cannot get more
    tries than the policy. Guesses of different names from one address are not serialised
    here: an address may get up to as many failures past its limit as it has requests in
    flight, before its lock begins.
    """
    key = address_key(address)
    await _advisory_lock(session, f"{key}|{name}")
    limits = login_limits(settings)
    since = now - limits.horizon
    pair = [
        Attempt(at, ok)
        for at, ok in (
            await session.execute(
                select(col(LoginAttempt.attempted_at), col(LoginAttempt.succeeded)).where(
                    col(LoginAttempt.username) == name,
                    col(LoginAttempt.address) == key,
                    col(LoginAttempt.attempted_at) > since,
                )
            )
        ).all()
    ]
    lock = login_lock(pair, await _failures_from(session, key, since), now, limits)
    if lock is not None:
        # The same answer for either lock, known name or not: it tells nothing but when.
        retry_after = max(1, math.ceil((lock.until - now).total_seconds()))
        observe_login_failure(name, locked=True)
        raise LoginLocked({"retry_after": retry_after})
    return _Try(name, address, key, limits, pair)


async def _record_attempt(session: AsyncSession, attempt: _Try, ok: bool, now: datetime) -> None:
    """Keep the attempt; a failure that begins a lock is counted and audited, once.

    Failures of one address are recorded one at a time (an advisory lock to commit), each
    seeing those committed before it, so exactly one of them begins the address's lock.
    """
    begun: list[Lock] = []
    if not ok:
        observe_login_failure(attempt.name, locked=False)
        await _advisory_lock(session, f"address|{attempt.key}")
        from_address = await _failures_from(session, attempt.key, now - attempt.limits.horizon)
        begun = locks_begun(attempt.pair, from_address, now, attempt.limits)
    session.add(
        LoginAttempt(username=attempt.name, address=attempt.key, succeeded=ok, attempted_at=now)
    )
    await session.flush()
    for lock in begun:
        LOGIN_LOCKOUTS.labels(kind=lock.scope.value).inc()
        if lock.scope is LockScope.ADDRESS:
            entity_type, entity_id = "login_address", attempt.key
        else:
            entity_type, entity_id = "login_name", attempt.name
        await audit.record(
            session,
            SYSTEM,
            "auth.locked_out",
            entity_type,
            entity_id,
            after={
                "scope": lock.scope.value,
                "name": attempt.name,
                "address": str(attempt.address) if attempt.address else None,
                "address_key": attempt.key,
                "locked_until": lock.until,
            },
            now=now,
        )


async def purge_login_attempts(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Delete the attempts too old to matter to any lock (older than the limits' horizon,
    the longest window plus its lock); the nightly run calls it. A lock that began is in the
    audit trail. How many were deleted."""
    cutoff = now - login_limits(settings).horizon
    result = await session.execute(
        delete(LoginAttempt)
        .where(col(LoginAttempt.attempted_at) < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def login_with_password(
    session: AsyncSession,
    settings: Settings,
    username: str,
    password: str,
    now: datetime,
    address: IPAddress | None,
) -> IssuedToken:
    """The OAuth2 password grant from the client at ``address``. Attempts are kept per user
    name, known or not, so the lockout says nothing about which names exist."""
    name = username.strip().lower()[:64]
    attempt = await _admit_attempt(session, settings, name, address, now)
    user = await session.scalar(select(User).where(col(User.username) == name))
    ok = await verify_secret(user.password_hash if user else None, password)
    ok = ok and user is not None and user.is_active
    await _record_attempt(session, attempt, ok, now)
    if not ok or user is None:
        raise InvalidCredentials()
    return await start_staff_session(session, settings, user, now)


def staff_token(
    settings: Settings, user: User, now: datetime, *, sid: uuid.UUID | None = None
) -> IssuedToken:
    """A staff access token, bound to the password (``pwf``) and, when issued for a session,
    to its refresh-token family (``sid``): ending the session ends the token."""
    extra: dict[str, str] = {"pwf": credentials_fingerprint(user.password_hash)}
    if sid is not None:
        extra["sid"] = str(sid)
    return issue_token(settings, subject=str(user.id), role=Role(user.role), now=now, extra=extra)


def _with_refresh(access: IssuedToken, refresh: refresh_tokens.IssuedRefresh) -> IssuedToken:
    return replace(access, refresh_token=refresh.token, refresh_expires_in=refresh.expires_in)


async def start_staff_session(
    session: AsyncSession, settings: Settings, user: User, now: datetime
) -> IssuedToken:
    """After a password login: a new refresh-token family, its first refresh token and an
    access token naming the family."""
    refresh = await refresh_tokens.start(session, settings, user, now)
    return _with_refresh(staff_token(settings, user, now, sid=refresh.family_id), refresh)


async def refresh_staff_session(
    session: AsyncSession, settings: Settings, refresh_token: str, now: datetime
) -> IssuedToken:
    """The refresh-token grant (RFC 6749 §6): the token is spent, and the answer carries the
    family's next one with a new access token for the user as the database has them now."""
    user, refresh = await refresh_tokens.rotate(session, settings, refresh_token, now)
    return _with_refresh(staff_token(settings, user, now, sid=refresh.family_id), refresh)


async def login_client(
    session: AsyncSession,
    settings: Settings,
    client_id: str,
    client_secret: str,
    now: datetime,
    address: IPAddress | None,
) -> IssuedToken:
    """The OAuth2 client-credentials grant for a partner's system at ``address``, under the
    same lockout as staff logins (kept under ``client:<client_id>``)."""
    attempt_name = (CLIENT_SUBJECT_PREFIX + client_id)[:80]
    attempt = await _admit_attempt(session, settings, attempt_name, address, now)
    row = (
        await session.execute(
            select(PartnerClient, col(Partner.is_active))
            .join(Partner, col(Partner.id) == col(PartnerClient.partner_id))
            .where(col(PartnerClient.client_id) == client_id)
        )
    ).first()
    client, partner_active = (row[0], row[1]) if row else (None, False)
    ok = await verify_secret(client.secret_hash if client else None, client_secret)
    ok = ok and client is not None and client.is_active and partner_active
    await _record_attempt(session, attempt, ok, now)
    if not ok or client is None:
        raise InvalidClient()
    return client_token(settings, client, now)


def client_token(settings: Settings, client: PartnerClient, now: datetime) -> IssuedToken:
    """A partner system's access token, bound like a staff one to the credentials it was
    issued for (``pwf``): rotating the client's secret ends the tokens of the old one."""
    return issue_token(
        settings,
        subject=CLIENT_SUBJECT_PREFIX + client.client_id,
        role=Role.PARTNER,
        now=now,
        extra={
            "partner_id": str(client.partner_id),
            "pwf": credentials_fingerprint(client.secret_hash),
        },
    )


async def principal_from_token(
    session: AsyncSession, settings: Settings, token: str, cache: PrincipalCache | None = None
) -> Principal:
    """Verify the token and re-read who it names, or take it from ``cache`` while its window
    lasts (app/services/principal_cache.py): deactivation takes effect at once in this
    process and within the window elsewhere, and a role or partner edited into the claims by
    hand is never trusted over the database."""
    if cache is not None:
        known = cache.get(token)
        if known is not None:
            return known
    claims = decode_token(settings, token)
    principal, keys = await _principal_of(session, claims)
    if cache is not None:
        cache.put(token, principal, keys, float(claims["exp"]))
    return principal


async def _principal_of(
    session: AsyncSession, claims: dict[str, Any]
) -> tuple[Principal, list[str]]:
    """The principal the verified claims name, and the cache keys of the rows it was read
    from."""
    subject = str(claims["sub"])
    if subject.startswith(CLIENT_SUBJECT_PREFIX):
        client_id = subject[len(CLIENT_SUBJECT_PREFIX) :]
        row = (
            await session.execute(
                select(
                    col(PartnerClient.partner_id),
                    col(PartnerClient.is_active),
                    col(Partner.is_active),
                    col(PartnerClient.secret_hash),
                )
                .join(Partner, col(Partner.id) == col(PartnerClient.partner_id))
                .where(col(PartnerClient.client_id) == client_id)
            )
        ).first()
        if row is None or not row[1] or not row[2]:
            raise NotAuthenticated({"reason": "inactive"})
        if claims.get("role") != Role.PARTNER.value or claims.get("partner_id") != str(row[0]):
            raise NotAuthenticated({"reason": "claims"})
        if claims.get("pwf") != credentials_fingerprint(row[3]):
            raise NotAuthenticated({"reason": "secret rotated"})
        principal = Principal(
            subject=subject, role=Role.PARTNER, partner_id=row[0], client_id=client_id
        )
        return principal, [client_key(client_id), partner_key(row[0])]
    try:
        user_id = uuid.UUID(subject)
    except ValueError as exc:
        raise NotAuthenticated({"reason": "subject"}) from exc
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated({"reason": "inactive"})
    if claims.get("role") != user.role:
        # The role changed since the token was issued: make the caller log in again.
        raise NotAuthenticated({"reason": "claims"})
    if claims.get("pwf") != credentials_fingerprint(user.password_hash):
        raise NotAuthenticated({"reason": "password changed"})
    # Tokens of a session (all that logins and refreshes issue) end with it: logout, reuse.
    keys = [user_key(user.id)]
    if "sid" in claims:
        if await refresh_tokens.session_ended(session, claims["sid"], user.id):
            raise NotAuthenticated({"reason": "session ended"})
        keys.append(session_key(claims["sid"]))
    principal = Principal(
        subject=subject,
        role=Role(user.role),
        user_id=user.id,
        username=user.username,
        skills=frozenset(Skill(s) for s in user.skills),
    )
    return principal, keys
