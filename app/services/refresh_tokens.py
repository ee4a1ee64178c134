"""Staff sessions: refresh-token families started at login, rotated, and revoked.

The rules are app/domain/refresh_tokens.py; here they are loaded and stored. A refresh token
is 256 random bits, opaque (not a JWT: it cannot be mistaken for an access token), kept only
as its SHA-256. Every start, rotation, reuse and revocation is in the audit trail, under the
family's id, never with a token.

Concurrent refreshes of one family queue on the family's row lock: of two requests with the
same token, the first rotates and the second finds its token spent, which is reuse. A client
therefore refreshes from one place at a time (README, "Sessions").
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.config import Settings
from app.domain import refresh_tokens as rules
from app.domain.errors import InvalidGrant
from app.domain.roles import Role
from app.models.refresh_token import RefreshToken, RefreshTokenFamily
from app.models.user import User
from app.security import Principal, credentials_fingerprint
from app.services import audit

TOKEN_BYTES = 32  # 256 bits
# Ended families are kept this long (to read when looking into a report), then purged.
KEEP_ENDED = timedelta(days=1)
ENTITY = "refresh_token_family"


@dataclass(frozen=True, slots=True)
class IssuedRefresh:
    """A refresh token as handed to the client, once."""

    family_id: uuid.UUID
    token: str
    expires_in: int  # seconds until it stops working if unused (idle or absolute expiry)


def session_policy(settings: Settings) -> rules.SessionPolicy:
    return rules.SessionPolicy(
        lifetime=timedelta(days=settings.refresh_token_days),
        idle=timedelta(hours=settings.refresh_token_idle_hours),
    )


def token_digest(token: str) -> str:
    """What is stored of a token: a plain SHA-256 suffices for 256 random bits (nothing to
    brute-force), and keeps the lookup one index probe."""
    return hashlib.sha256(token.encode()).hexdigest()


def _family(row: RefreshTokenFamily) -> rules.Family:
    return rules.Family(
        started_at=row.started_at,
        expires_at=row.expires_at,
        credentials=row.credentials,
        generation=row.generation,
        renewed_at=row.renewed_at,
        revoked_at=row.revoked_at,
        revoked_reason=rules.Revocation(row.revoked_reason) if row.revoked_reason else None,
    )


def _keep(row: RefreshTokenFamily, family: rules.Family) -> None:
    row.generation = family.generation
    row.renewed_at = family.renewed_at
    row.revoked_at = family.revoked_at
    row.revoked_reason = family.revoked_reason.value if family.revoked_reason else None


def _holder(user: User) -> Principal:
    """The family's user, as the actor of what happens to it through its tokens."""
    return Principal(
        subject=str(user.id), role=Role(user.role), user_id=user.id, username=user.username
    )


async def _issue(
    session: AsyncSession,
    row: RefreshTokenFamily,
    family: rules.Family,
    now: datetime,
    policy: rules.SessionPolicy,
) -> IssuedRefresh:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        RefreshToken(token_hash=token_digest(token), family_id=row.id, generation=family.generation)
    )
    await session.flush()
    expires_in = int((family.deadline(policy) - now).total_seconds())
    return IssuedRefresh(row.id, token, expires_in)


async def start(
    session: AsyncSession, settings: Settings, user: User, now: datetime
) -> IssuedRefresh:
    """A new family for a user who just logged in, and its first token."""
    policy = session_policy(settings)
    family = rules.start(now, policy, credentials_fingerprint(user.password_hash))
    row = RefreshTokenFamily(
        user_id=user.id,
        started_at=family.started_at,
        expires_at=family.expires_at,
        credentials=family.credentials,
        generation=family.generation,
        renewed_at=family.renewed_at,
    )
    session.add(row)
    await session.flush()
    issued = await _issue(session, row, family, now, policy)
    await audit.record(
        session,
        _holder(user),
        f"{ENTITY}.started",
        ENTITY,
        row.id,
        after={"user_id": user.id, "expires_at": family.expires_at, "generation": 0},
        now=now,
    )
    return issued


async def _find(
    session: AsyncSession, token: str
) -> tuple[RefreshTokenFamily, int] | tuple[None, None]:
    """The token's family (row-locked) and generation, or (None, None) for a token this
    server never issued (or whose family was purged)."""
    found = (
        await session.execute(
            select(col(RefreshToken.family_id), col(RefreshToken.generation)).where(
                col(RefreshToken.token_hash) == token_digest(token)
            )
        )
    ).first()
    if found is None:
        return None, None
    row = await session.scalar(
        select(RefreshTokenFamily)
        .where(col(RefreshTokenFamily.id) == found[0])
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        return None, None
    return row, found[1]


async def rotate(
    session: AsyncSession, settings: Settings, token: str, now: datetime
) -> tuple[User, IssuedRefresh]:
    """The refresh grant: spend ``token`` and issue the family's next one, or refuse with
    InvalidGrant (whatever the reason: the client logs in again). A refusal that revokes the
    family (reuse, a new password, deactivation) is kept although the request fails."""
    policy = session_policy(settings)
    row, generation = await _find(session, token)
    if row is None or generation is None:
        raise InvalidGrant()
    user = await session.get(User, row.user_id)
    if user is None:  # users are deactivated, never deleted; kept for a clear failure
        raise InvalidGrant()
    holder = rules.Holder(user.is_active, credentials_fingerprint(user.password_hash))
    before = _family(row)
    outcome = rules.refresh(before, generation, holder, now, policy)
    if isinstance(outcome, rules.Refused):
        if outcome.revokes:
            _keep(row, outcome.family)
            session.add(row)
            await session.flush()
            changes = []
            if outcome.reason is rules.Refusal.REUSED:
                changes.append(
                    audit.Change(
                        f"{ENTITY}.reuse_detected",
                        ENTITY,
                        row.id,
                        after={"presented": generation, "live": before.generation},
                    )
                )
            changes.append(_revoked(row.id, outcome.family.revoked_reason))
            await audit.record_many(session, _holder(user), changes, now=now)
        raise InvalidGrant()
    _keep(row, outcome.family)
    session.add(row)
    issued = await _issue(session, row, outcome.family, now, policy)
    await audit.record(
        session,
        _holder(user),
        f"{ENTITY}.rotated",
        ENTITY,
        row.id,
        before={"generation": before.generation},
        after={"generation": outcome.family.generation},
        now=now,
    )
    return user, issued


def _revoked(family_id: uuid.UUID, reason: rules.Revocation | None) -> audit.Change:
    return audit.Change(
        f"{ENTITY}.revoked",
        ENTITY,
        family_id,
        before={"revoked": False},
        after={"reason": reason.value if reason else None},
    )


async def end(session: AsyncSession, token: str, now: datetime) -> None:
    """Logout: revoke the family of ``token`` (live or spent), with the access tokens that
    name it. An unknown or already ended token changes nothing and says nothing (RFC 7009
    §2.2): logging out cannot be used to test tokens."""
    row, _generation = await _find(session, token)
    if row is None or row.revoked_at is not None:
        return
    user = await session.get(User, row.user_id)
    if user is None:
        return
    family = rules.revoke(_family(row), rules.Revocation.LOGOUT, now)
    _keep(row, family)
    session.add(row)
    await session.flush()
    await audit.record_many(
        session, _holder(user), [_revoked(row.id, family.revoked_reason)], now=now
    )


async def revoke_all(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    reason: rules.Revocation,
    now: datetime,
) -> list[uuid.UUID]:
    """End every family of a user still open (a new password, deactivation): one statement,
    one audit event per family. The families it ended."""
    ended = list(
        (
            await session.execute(
                update(RefreshTokenFamily)
                .where(
                    col(RefreshTokenFamily.user_id) == user_id,
                    col(RefreshTokenFamily.revoked_at).is_(None),
                    col(RefreshTokenFamily.expires_at) > now,
                )
                .values(revoked_at=now, revoked_reason=reason.value)
                .returning(col(RefreshTokenFamily.id))
                .execution_options(synchronize_session=False)
            )
        ).scalars()
    )
    if ended:
        await audit.record_many(
            session,
            actor,
            [_revoked(family_id, reason) for family_id in sorted(ended)],
            now=now,
        )
    return ended


async def session_ended(session: AsyncSession, sid: object, user_id: uuid.UUID) -> bool:
    """True when an access token's ``sid`` names no open family of ``user_id``: revoked,
    unknown, or another user's. (Expiry is the access token's own ``exp``.)"""
    try:
        family_id = uuid.UUID(str(sid))
    except ValueError:
        return True
    found = (
        await session.execute(
            select(col(RefreshTokenFamily.user_id), col(RefreshTokenFamily.revoked_at)).where(
                col(RefreshTokenFamily.id) == family_id
            )
        )
    ).first()
    return found is None or found[0] != user_id or found[1] is not None


async def purge(session: AsyncSession, now: datetime) -> int:
    """Delete the families (and their token hashes) that ended, by expiry or revocation, more
    than KEEP_ENDED ago; the nightly run calls it. Their history stays in the audit trail, an
    access token naming one is refused like one of a revoked family, and a token of one is
    unknown. How many were deleted."""
    cutoff = now - KEEP_ENDED
    result = await session.execute(
        delete(RefreshTokenFamily)
        .where(
            or_(
                col(RefreshTokenFamily.expires_at) < cutoff,
                col(RefreshTokenFamily.revoked_at) < cutoff,
            )
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
