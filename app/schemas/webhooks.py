"""API shapes of events to partners: subscriptions, their secrets and the delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.domain.webhooks import MAX_URL_LENGTH, EventKind
from app.schemas.common import TrimmedText

WebhookUrl = Annotated[
    str,
    Field(
        min_length=8,
        max_length=MAX_URL_LENGTH,
        description="Where events are POSTed: https (http is refused in production), on a "
        "public address (loopback, private and link-local addresses are refused).",
        examples=["https://hooks.example.com/cartera"],
    ),
]
EventTypes = Annotated[
    list[EventKind],
    Field(min_length=1, max_length=len(EventKind), description="The event kinds to receive."),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    event_types: EventTypes
    enabled: bool = True
    description: Annotated[TrimmedText, Field(max_length=200)] | None = None


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    enabled: bool | None = None
    description: Annotated[TrimmedText, Field(max_length=200)] | None = None


class WebhookRead(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    url: str
    event_types: list[EventKind]
    enabled: bool
    description: str | None
    previous_secret_until: datetime | None = Field(
        description="While set and in the future, deliveries are signed with the previous "
        "secret too (after a rotation)."
    )
    version: int = Field(description="Also sent as the ETag; send it back as If-Match.")
    created_at: datetime
    updated_at: datetime


class WebhookSecret(WebhookRead):
    secret: str = Field(
        description="The signing secret (Standard Webhooks, `whsec_…`): shown this once; "
        "rotate it to get a new one."
    )


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_hours: int = Field(
        default=24,
        ge=0,
        le=24 * 7,
        description="How long the previous secret keeps signing too (0: at once stops).",
    )


class DeliveryRead(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The `webhook-id` header of every attempt.")
    event_type: EventKind
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="Null once delivered or failed.")
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    response_code: int | None = Field(description="The last attempt's HTTP status, if any.")
    latency_ms: int | None = Field(description="The last attempt's time to an answer.")
    last_error: str | None
