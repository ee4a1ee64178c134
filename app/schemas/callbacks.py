"""API shapes of callbacks: the calls debtors asked for at a time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.domain.callbacks import CallbackStatus
from app.schemas.common import LocalDatetime
from app.schemas.contact_check import ReasonRead


class CallbackRead(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    partner_id: uuid.UUID
    interaction_id: uuid.UUID = Field(description="The RPC_CALLBACK interaction that agreed it.")
    collector_id: uuid.UUID | None = Field(
        description="Whose work queue it heads: the account's collector when it was agreed."
    )
    status: CallbackStatus = Field(
        description="At the time of the request: `scheduled` (not yet due), `due`, `missed` "
        "(due longer than the grace and not done), `done`, `cancelled`."
    )
    local_time: LocalDatetime = Field(
        description="The agreed time on the debtor's clock, as they said it (no offset)."
    )
    time_zone: str = Field(description="The IANA zone `local_time` is on.")
    agreed_at: datetime = Field(description="The agreed instant.")
    due_at: datetime = Field(
        description="When the work queue takes it up: `agreed_at` if the contact law allows "
        "a call then, else the law's next allowed moment."
    )
    deferred_reasons: list[ReasonRead] = Field(
        description="Why it could not be taken up at the agreed instant; empty if it could."
    )
    missed_after: datetime = Field(description="When it counts as missed if not done by then.")
    done_at: datetime | None
    done_interaction_id: uuid.UUID | None = Field(
        description="The first interaction on the account that started once it was due."
    )
    cancelled_at: datetime | None
    cancel_reason: Literal["reassigned", "account_inactive", "superseded", "corrected"] | None = (
        Field(
            description="`reassigned`: the account changed collector; `account_inactive`: it was "
            "recalled or closed; `superseded`: a newer callback on the account replaced it; "
            "`corrected`: the interaction that agreed it was corrected."
        )
    )
    created_at: datetime
