"""API shapes of compliance incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.contact_check import REASON_CODES
from app.schemas.common import NoteText, one_of


class IncidentReasonRead(BaseModel):
    code: str = Field(json_schema_extra=one_of(REASON_CODES))
    message: str
    basis: Literal["law", "policy"]
    citation: str | None = Field(description="Statute and article the contact broke.")


class ComplianceIncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    interaction_id: uuid.UUID
    partner_id: uuid.UUID
    collector_id: uuid.UUID | None = Field(description="Who recorded the contact.")
    occurred_at: datetime = Field(description="When the contact happened (its started_at).")
    reasons: list[IncidentReasonRead]
    pack_version: str
    status: Literal["open", "resolved"]
    opened_at: datetime
    resolution_note: str | None
    resolved_by: str | None
    resolved_at: datetime | None


class ComplianceIncidentResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: NoteText = Field(
        min_length=1, max_length=2000, description="What was found and what was done."
    )
