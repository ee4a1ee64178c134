"""Events to partners: subscriptions, the transactional outbox and the delivery log.

An event row is written in the same transaction as the change it describes, with one
delivery row per enabled subscription of the partner that wants its kind; the job worker
claims due deliveries with ``FOR UPDATE SKIP LOCKED`` and calls the partner's endpoint.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, CheckConstraint, Column, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.domain.webhooks import DeliveryStatus
from app.ids import new_id
from app.models.base import EnumText, Sealed, optional_timestamp_field, timestamp_field

# What the signing secrets are sealed for (AES-GCM associated purpose).
WEBHOOK_SECRET = "webhook_secret"


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_partner", "partner_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(40)), nullable=False)
    )
    enabled: bool = True
    description: str | None = Field(default=None, max_length=200)
    # Its ETag: moves on with every change, a secret rotation included.
    version: int = Field(default=1)
    # The signing secret (whsec_…), sealed; during a rotation's overlap window the previous
    # one signs too, until previous_secret_until.
    secret: str = Field(sa_column=Column(Sealed(WEBHOOK_SECRET), nullable=False))
    previous_secret: str | None = Field(
        default=None, sa_column=Column(Sealed(WEBHOOK_SECRET), nullable=True)
    )
    previous_secret_until: datetime | None = optional_timestamp_field()
    created_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class WebhookEvent(SQLModel, table=True):
    """The outbox: what happened, for which partner; its id is the ``webhook-id``."""

    __tablename__ = "webhook_event"
    __table_args__ = (Index("ix_webhook_event_partner_time", "partner_id", "occurred_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partner.id")
    kind: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    occurred_at: datetime = timestamp_field()


class WebhookDelivery(SQLModel, table=True):
    """One event to one subscription: pending until delivered, or failed past its age."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index("ix_webhook_delivery_log", "subscription_id", "created_at", "id"),
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("webhook_event.id", ondelete="CASCADE"), nullable=False)
    )
    subscription_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("webhook_subscription.id", ondelete="CASCADE"), nullable=False)
    )
    partner_id: uuid.UUID
    status: DeliveryStatus = Field(
        default=DeliveryStatus.PENDING, sa_type=EnumText(DeliveryStatus, 12)
    )
    attempts: int = 0
    created_at: datetime = timestamp_field()
    next_attempt_at: datetime = timestamp_field()
    last_attempt_at: datetime | None = optional_timestamp_field()
    delivered_at: datetime | None = optional_timestamp_field()
    response_code: int | None = None
    latency_ms: int | None = None
    last_error: str | None = Field(default=None, max_length=300)


class UploadProgress(SQLModel, table=True):
    """Rows done of a push or payment file being processed, written and committed apart
    from the job's own transaction (which holds the upload's row lock to its end), so
    another request sees it move."""

    __tablename__ = "upload_progress"

    upload_id: uuid.UUID = Field(primary_key=True)
    rows_done: int = 0
    rows_total: int | None = None
    updated_at: datetime = timestamp_field()
