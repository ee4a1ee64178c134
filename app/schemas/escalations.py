"""Escalations: a case referred to management, the notes added while it is worked, and the
outcome it is closed with (a code of the catalogue, with a note)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.catalog import NOTE_REQUIRED_OUTCOMES, EscalationOutcome
from app.schemas.accounts import AccountLabelRead
from app.schemas.common import NoteText

_REQUIRED = ", ".join(sorted(o.value for o in NOTE_REQUIRED_OUTCOMES))


class EscalationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    reason: NoteText = Field(min_length=1, max_length=1000)


class EscalationResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: EscalationOutcome = Field(description="What management decided (GET /catalog).")
    note: NoteText | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description=f"What was decided, in words; required with {_REQUIRED}.",
    )


class EscalationNoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: NoteText = Field(min_length=1, max_length=2000)


class EscalationNoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    escalation_id: uuid.UUID
    author_id: str = Field(description="Who added it (an audit id, e.g. `user:<id>`).")
    note: str
    created_at: datetime


class EscalationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    source: Literal["collector", "trigger"]
    reason: str
    trigger: str | None
    status: Literal["open", "taken", "resolved"]
    opened_by: str
    opened_at: datetime
    taken_by: uuid.UUID | None
    taken_at: datetime | None
    outcome: EscalationOutcome | None
    outcome_note: str | None
    resolved_at: datetime | None
    strategy_version: int | None


class EscalationDetail(EscalationRead):
    """An escalation with every note added to it, oldest first."""

    notes: list[EscalationNoteRead]


class EscalationListItem(EscalationRead):
    """An escalation in a list, with what a list screen shows of its account."""

    account: AccountLabelRead = Field(
        description="The account's reference, its debtor's name and its collector."
    )
