"""Logging in (password and client-credentials grants) and resolving a token to a principal."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.config import Settings
from app.domain.auth import Attempt, LockoutPolicy, locked_until
from app.domain.errors import InvalidClient, InvalidCredentials, LoginLocked, NotAuthenticated
from app.domain.roles import Role, Skill
from app.models.partner import Partner, PartnerClient
from app.models.user import LoginAttempt, User
from app.security import (
    IssuedToken,
    Principal,
    credentials_fingerprint,
    decode_token,
    issue_token,
    verify_secret,
)
from app.services import refresh_tokens

CLIENT_SUBJECT_PREFIX = "client:"


def lockout_policy(settings: Settings) -> LockoutPolicy:
    return LockoutPolicy(
        max_failures=settings.login_max_failures,
        window=timedelta(minutes=settings.login_failure_window_minutes),
        lock_for=timedelta(minutes=settings.login_lock_minutes),
    )


# Advisory-lock class for login attempts (the two-key form: its own key space).
_LOGIN_LOCK_CLASS = 1


async def _admit_attempt(
    session: AsyncSession, settings: Settings, name: str, now: datetime
) -> None:
    """Serialise the attempts on one name and refuse it while it is locked out.

    The per-name lock (held to the end of the transaction) makes concurrent guesses queue up
    and each see the failures before it, so a burst cannot get more tries than the policy.
    """
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:kind, hashtext(:name))"),
        {"kind": _LOGIN_LOCK_CLASS, "name": name},
    )
    policy = lockout_policy(settings)
    recent = (
        await session.execute(
            select(col(LoginAttempt.attempted_at), col(LoginAttempt.succeeded)).where(
                col(LoginAttempt.username) == name,
                col(LoginAttempt.attempted_at) > now - policy.window - policy.lock_for,
            )
        )
    ).all()
    until = locked_until([Attempt(at, ok) for at, ok in recent], now, policy)
    if until is not None:
        raise LoginLocked({"retry_after": max(1, math.ceil((until - now).total_seconds()))})


async def _record_attempt(session: AsyncSession, name: str, ok: bool, now: datetime) -> None:
    session.add(LoginAttempt(username=name, succeeded=ok, attempted_at=now))
    await session.flush()


async def login_with_password(
    session: AsyncSession, settings: Settings, username: str, password: str, now: datetime
) -> IssuedToken:
    """The OAuth2 password grant. Attempts are kept per user name, known or not, so the
    lockout says nothing about which names exist."""
    name = username.strip().lower()[:64]
    await _admit_attempt(session, settings, name, now)
    user = await session.scalar(select(User).where(col(User.username) == name))
    ok = await verify_secret(user.password_hash if user else None, password)
    ok = ok and user is not None and user.is_active
    await _record_attempt(session, name, ok, now)
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
    session: AsyncSession, settings: Settings, client_id: str, client_secret: str, now: datetime
) -> IssuedToken:
    """The OAuth2 client-credentials grant for a partner's system, under the same lockout
    as staff logins (kept under ``client:<client_id>``)."""
    attempt_name = (CLIENT_SUBJECT_PREFIX + client_id)[:80]
    await _admit_attempt(session, settings, attempt_name, now)
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
    await _record_attempt(session, attempt_name, ok, now)
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


async def principal_from_token(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """Verify the token and re-read who it names: deactivation takes effect at once, and a
    role or partner edited into the claims by hand is never trusted over the database."""
    claims = decode_token(settings, token)
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
        return Principal(subject=subject, role=Role.PARTNER, partner_id=row[0], client_id=client_id)
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
    if "sid" in claims and await refresh_tokens.session_ended(session, claims["sid"], user.id):
        raise NotAuthenticated({"reason": "session ended"})
    return Principal(
        subject=subject,
        role=Role(user.role),
        user_id=user.id,
        username=user.username,
        skills=frozenset(Skill(s) for s in user.skills),
    )
