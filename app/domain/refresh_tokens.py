"""Refresh-token families: the rules of a staff session a single-page app can keep.

Following the OAuth 2.0 Security Best Current Practice (RFC 9700 §2.2.2, §4.14) and OAuth 2.0
for Browser-Based Applications (draft-ietf-oauth-browser-based-apps, "refresh tokens"):

- A password login starts a *family*. Each refresh token belongs to one family and has a
  *generation*: 0 for the login's, then 1, 2 … Only the family's current generation is
  live.
- Presenting the live token *rotates*: the family moves to the next generation and a new
  token is issued; the presented one is spent.
- Presenting a spent token is *reuse*: a token was copied, and the server cannot tell
  whether the attacker or the user came second, so the whole family is revoked (the live
  token too, and the access tokens of the family, which name it as ``sid``).
- The family has an absolute lifetime fixed at login, which rotation never extends, and an
  idle timeout counted from the live token's issue.
- Logout, a new password and deactivation revoke the family; a revoked family never issues
  again.

Pure: no I/O and no clock (``now`` is a parameter). app/services/refresh_tokens.py stores the
families and a hash of each token.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Revocation(StrEnum):
    """Why a family ended before its time."""

    LOGOUT = "logout"
    REUSE = "reuse"
    PASSWORD_CHANGED = "password_changed"
    DEACTIVATED = "deactivated"


class Refusal(StrEnum):
    """Why a refresh token was not exchanged (kept in the audit trail; the client is told
    only that the grant is invalid)."""

    REVOKED = "revoked"
    REUSED = "reused"
    EXPIRED = "expired"
    IDLE = "idle"
    PASSWORD_CHANGED = "password_changed"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a family may live: ``lifetime`` from the login whatever happens, and
    ``idle`` from the last rotation (a shift's app left closed overnight logs in again)."""

    lifetime: timedelta = timedelta(days=14)
    idle: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Family:
    started_at: datetime
    expires_at: datetime
    # Fingerprint of the password the family was started with: a new password ends it.
    credentials: str
    # The live token's generation, and when it was issued.
    generation: int
    renewed_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: Revocation | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def deadline(self, policy: SessionPolicy) -> datetime:
        """When the live token stops working if nothing else happens."""
        return min(self.expires_at, self.renewed_at + policy.idle)


@dataclass(frozen=True, slots=True)
class Holder:
    """What a refresh needs to know of the family's user, read when the token is presented."""

    active: bool
    credentials: str


@dataclass(frozen=True, slots=True)
class Rotated:
    """The presented token is spent; ``family.generation`` is the new live token's."""

    family: Family


@dataclass(frozen=True, slots=True)
class Refused:
    """No new token. ``family`` is revoked now when ``revokes`` (reuse, a new password,
    deactivation), and unchanged otherwise."""

    family: Family
    reason: Refusal
    revokes: bool = False


def start(now: datetime, policy: SessionPolicy, credentials: str) -> Family:
    """The family of a new login, its generation-0 token live."""
    return Family(
        started_at=now,
        expires_at=now + policy.lifetime,
        credentials=credentials,
        generation=0,
        renewed_at=now,
    )


def revoke(family: Family, reason: Revocation, now: datetime) -> Family:
    """The family ended for ``reason``; a family already revoked keeps its first reason."""
    if family.revoked:
        return family
    return replace(family, revoked_at=now, revoked_reason=reason)


def refresh(
    family: Family, generation: int, holder: Holder, now: datetime, policy: SessionPolicy
) -> Rotated | Refused:
    """Exchange the token of ``generation`` (one the family issued).

    Reuse is looked for before expiry, so a replayed token is reported even late. A new
    password and deactivation are found here too, not only where they are made, so a change
    made outside the API (a script, the database) ends the family as well.
    """
    if generation > family.generation:
        raise ValueError(f"generation {generation} was never issued by this family")
    if family.revoked:
        return Refused(family, Refusal.REVOKED)
    if generation < family.generation:
        return Refused(revoke(family, Revocation.REUSE, now), Refusal.REUSED, revokes=True)
    if not holder.active:
        return Refused(
            revoke(family, Revocation.DEACTIVATED, now), Refusal.DEACTIVATED, revokes=True
        )
    if holder.credentials != family.credentials:
        return Refused(
            revoke(family, Revocation.PASSWORD_CHANGED, now),
            Refusal.PASSWORD_CHANGED,
            revokes=True,
        )
    if now >= family.expires_at:
        return Refused(family, Refusal.EXPIRED)
    if now >= family.renewed_at + policy.idle:
        return Refused(family, Refusal.IDLE)
    return Rotated(replace(family, generation=family.generation + 1, renewed_at=now))
