"""API shapes of the work queue: prioritised accounts, why, by which channel, and claims."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.domain.contact_check import ContactChannel
from app.domain.stages import Stage
from app.schemas.accounts import Money


class WorkReasonRead(BaseModel):
    code: str = Field(
        description="callback_due, promise_due_today, promise_broken, balance_stage, "
        "days_since_contact, contactability or best_hour."
    )
    points: int = Field(description="What this reason adds to the score.")
    detail: str


class WorkChannelRead(BaseModel):
    """How to reach the debtor now: the channel and the contact point the check allowed."""

    channel: ContactChannel
    contact_point_id: uuid.UUID
    kind: str = Field(description="phone, email or address.")
    value_masked: str
    time_zone: str = Field(description="IANA zone the contact law was evaluated in.")
    local_time: datetime = Field(description="Now, in that zone.")


class WorkItemRead(BaseModel):
    account_id: uuid.UUID
    partner_id: uuid.UUID
    external_ref: str
    debtor_name: str
    stage: Stage
    dpd: int
    currency: str
    total: Money
    past_due_amount: Money
    score: int = Field(description="The sum of the reasons' points; higher is worked first.")
    reasons: list[WorkReasonRead]
    channel: WorkChannelRead
    claimed_until: datetime | None = Field(
        description="When the caller's own claim on the account lapses; null if unclaimed."
    )


class WorklistRead(BaseModel):
    """The top of the caller's queue (not paged: the order changes from minute to minute)."""

    items: list[WorkItemRead]
    evaluated_at: datetime = Field(description="The moment the contact law was evaluated at.")


class WorkClaimRead(WorkItemRead):
    claim_expires_at: datetime = Field(
        description="Until then no other session is given this account; recording an "
        "interaction on it releases it earlier."
    )
