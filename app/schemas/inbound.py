"""API shapes of inbound calls: who is calling, and the calls that matched nobody."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.identity import Country
from app.domain.stages import Stage
from app.schemas.accounts import Money
from app.schemas.common import NoteText, PlainText, UtcDatetime


class InboundMatchRead(BaseModel):
    """An active account the number belongs to (the debtor's own number)."""

    account_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str
    debtor_name: str = Field(
        description="As the partner sent it to whoever works the account; for the inbound "
        "desk, the first names and the initials of the last names."
    )
    seen_as: Literal["worker", "inbound_desk"] = Field(
        description="`worker`: the caller works the account (their own, their team's, every "
        "one for managers); `inbound_desk`: a masked summary for the shared inbound desk, "
        "which may record the inbound call on it for two hours after this look-up."
    )
    assigned_to_me: bool
    assigned_collector_id: uuid.UUID | None = Field(
        description="Who works the account: where to pass the call."
    )
    contact_point_id: uuid.UUID = Field(description="The debtor's phone that matched.")
    phone_masked: str
    stage: Stage
    dpd: int
    currency: str
    balance: Money


class InboundLookupRead(BaseModel):
    """Not paginated: a number belongs to few accounts (at most 20 are listed)."""

    phone_masked: str = Field(description="The number as normalised (E.164), masked.")
    country: Country = Field(description="The country the number was read in.")
    items: list[InboundMatchRead]
    truncated: bool
    record_unidentified: str | None = Field(
        description="When nothing matched: where to keep the call as unidentified (POST)."
    )


class UnidentifiedCallCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: PlainText | None = Field(
        max_length=40,
        description="The caller's number as shown; null when it was withheld.",
    )
    country: Country | None = Field(
        default=None, description="The country the number is written for; default MX."
    )
    started_at: UtcDatetime = Field(description="When the call came in (at most 30 days ago).")
    notes: NoteText | None = Field(default=None, max_length=2000)


class UnidentifiedCallRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    phone_masked: str | None
    started_at: datetime
    notes: str | None
    received_by: uuid.UUID
    created_at: datetime
