from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import TrimmedText

TeamName = Annotated[TrimmedText, Field(max_length=120)]


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TeamName
    lead_id: uuid.UUID | None = Field(default=None, description="A user with role team_lead.")
    member_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=500,
        description="Collectors; a collector in another team moves to this one.",
    )


class TeamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TeamName | None = None
    lead_id: uuid.UUID | None = None
    member_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=500, description="The full new member list."
    )


class TeamRead(BaseModel):
    id: uuid.UUID
    name: str
    lead_id: uuid.UUID | None
    member_ids: list[uuid.UUID]
    version: int = Field(description="Also sent as the ETag; send it back as If-Match.")
    created_at: datetime
    updated_at: datetime
