"""Staff users, their teams and the password-grant attempts (for the lockout)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, CheckConstraint, Column, DateTime, Index, String, text
from sqlmodel import Field, SQLModel

from app.ids import new_id
from app.models.base import timestamp_field


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'manager', 'team_lead', 'collector', 'auditor')", name="role"
        ),
        CheckConstraint("username = lower(username)", name="username_lower"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    full_name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    role: str = Field(max_length=16)
    skills: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(String(16)), nullable=False, server_default="{}"),
    )
    password_hash: str = Field(max_length=256)
    is_active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class Team(SQLModel, table=True):
    __tablename__ = "team"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    lead_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id", index=True)
    # Its ETag: moves on with every change to the name, the lead or the members.
    version: int = Field(default=1)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class TeamMember(SQLModel, table=True):
    """A user belongs to at most one team (the primary key on ``user_id`` says so)."""

    __tablename__ = "team_member"

    user_id: uuid.UUID = Field(foreign_key="app_user.id", primary_key=True)
    team_id: uuid.UUID = Field(foreign_key="team.id", index=True, ondelete="CASCADE")


class LoginAttempt(SQLModel, table=True):
    """One try of a grant, kept by the name tried (a user name, or ``client:<client_id>``)
    whether or not it exists, and by the client's address key (``app.domain.auth.address_key``:
    an IPv4 address, an IPv6 /64, or ``unknown``)."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        # The lockout of one name from one address …
        Index("ix_login_attempt_username_address_at", "username", "address", "attempted_at"),
        # … and of one address across names, which counts failures only.
        Index(
            "ix_login_attempt_address_failed_at",
            "address",
            "attempted_at",
            postgresql_where=text("NOT succeeded"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    username: str = Field(max_length=80)
    address: str = Field(max_length=64)
    succeeded: bool
    attempted_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
