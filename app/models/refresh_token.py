"""Staff sessions: refresh-token families and the hashes of their tokens (never a token)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import optional_timestamp_field


class RefreshTokenFamily(SQLModel, table=True):
    """One login of a staff user and the refresh tokens rotated from it
    (app/domain/refresh_tokens.py). Its id is the ``sid`` claim of the family's access
    tokens, so revoking it ends them too."""

    __tablename__ = "refresh_token_family"
    __table_args__ = (
        CheckConstraint(
            "revoked_reason IN ('logout', 'reuse', 'password_changed', 'deactivated')",
            name="revoked_reason",
        ),
        CheckConstraint("(revoked_at IS NULL) = (revoked_reason IS NULL)", name="revoked_why"),
        CheckConstraint("generation >= 0", name="generation"),
        CheckConstraint("expires_at > started_at", name="lifetime"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    started_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False, index=True)
    # Fingerprint of the password at login (app.security.credentials_fingerprint).
    credentials: str = Field(max_length=16)
    # The live token's generation and when it was issued.
    generation: int = Field(default=0)
    renewed_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    revoked_at: datetime | None = optional_timestamp_field()
    revoked_reason: str | None = Field(default=None, max_length=16)


class RefreshToken(SQLModel, table=True):
    """A refresh token a family issued, live or spent, known only by its SHA-256 (the token
    is 256 random bits, so a plain digest cannot be reversed or guessed)."""

    __tablename__ = "refresh_token"
    __table_args__ = (
        UniqueConstraint("family_id", "generation", name="uq_refresh_token_family_generation"),
    )

    # Hex SHA-256 of the token.
    token_hash: str = Field(primary_key=True, max_length=64)
    family_id: uuid.UUID = Field(foreign_key="refresh_token_family.id", ondelete="CASCADE")
    generation: int
