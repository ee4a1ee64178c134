from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from app.domain.roles import Role, Skill
from app.schemas.common import PlainText, TrimmedText

Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9._-]{3,64}$"),
]
FullName = Annotated[TrimmedText, Field(max_length=200)]
Password = Annotated[PlainText, Field(min_length=10, max_length=128)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    full_name: FullName
    email: EmailStr | None = None
    role: Role = Field(description="Any staff role; `partner` is for client credentials only.")
    skills: list[Skill] = Field(default_factory=list, max_length=len(Skill))
    password: Password


class UserUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    full_name: FullName | None = None
    email: EmailStr | None = None
    role: Role | None = None
    skills: list[Skill] | None = Field(default=None, max_length=len(Skill))
    is_active: bool | None = None
    password: Password | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    full_name: str
    email: str | None
    role: Role
    skills: list[Skill]
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime
