"""Events to partners: a partner's webhook subscriptions, their secrets and delivery log.

Managed by the partner's own system (a client token for its own id) or an admin; another
partner's id is a 404."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.contract import ETAG, LOCATION, response_headers
from app.deps import API_PREFIX, SessionDep, SettingsDep, require
from app.domain.roles import Role
from app.domain.webhooks import EventKind
from app.models.webhook import WebhookDelivery, WebhookSubscription
from app.pagination import CursorQuery, LimitQuery, Page, decode_id_cursor, split_page
from app.problems import problem_responses
from app.schemas.webhooks import (
    DeliveryRead,
    SecretRotation,
    WebhookCreate,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)
from app.security import Principal
from app.services import webhooks as service
from app.versioning import IfMatch, etag, parse_if_match

router = APIRouter(prefix="/partners/{partner_id}/webhooks", tags=["webhooks"])

ManagesWebhooks = Annotated[Principal, Depends(require(Role.ADMIN, Role.PARTNER))]


def _read(subscription: WebhookSubscription) -> WebhookRead:
    return WebhookRead(
        id=subscription.id,
        partner_id=subscription.partner_id,
        url=subscription.url,
        event_types=[EventKind(k) for k in subscription.event_types],
        enabled=subscription.enabled,
        description=subscription.description,
        previous_secret_until=subscription.previous_secret_until,
        version=subscription.version,
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
    )


def _with_secret(subscription: WebhookSubscription) -> WebhookSecret:
    return WebhookSecret(**_read(subscription).model_dump(), secret=subscription.secret)


def _delivery(delivery: WebhookDelivery, kind: str) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=EventKind(kind),
        status=delivery.status,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        last_attempt_at=delivery.last_attempt_at,
        delivered_at=delivery.delivered_at,
        response_code=delivery.response_code,
        latency_ms=delivery.latency_ms,
        last_error=delivery.last_error,
    )


@router.post(
    "",
    summary="Subscribe an endpoint to events",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookSecret,
    responses=problem_responses(401, 403, 404, 422)
    | response_headers(201, headers=(ETAG, LOCATION)),
)
async def create_webhook(
    session: SessionDep,
    settings: SettingsDep,
    principal: ManagesWebhooks,
    partner_id: uuid.UUID,
    body: WebhookCreate,
    response: Response,
) -> WebhookSecret:
    """The answer holds the signing secret, this once. The URL is refused (422) when it is
    not https in production or its host resolves to a loopback, private or link-local
    address (unless the settings allow that network)."""
    subscription = await service.create_subscription(
        session, principal, settings, partner_id,
        url=body.url, event_types=body.event_types, enabled=body.enabled,
        description=body.description,
    )  # fmt: skip
    response.headers["Location"] = f"{API_PREFIX}/partners/{partner_id}/webhooks/{subscription.id}"
    response.headers["ETag"] = etag(subscription.version)
    return _with_secret(subscription)


@router.get(
    "",
    summary="List a partner's webhook subscriptions",
    response_model=Page[WebhookRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_webhooks(
    session: SessionDep,
    principal: ManagesWebhooks,
    partner_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[WebhookRead]:
    rows = await service.list_subscriptions(
        session, principal, partner_id, decode_id_cursor(cursor), limit
    )
    page, next_cursor = split_page(rows, limit, lambda s: s.id)
    return Page(items=[_read(s) for s in page], next_cursor=next_cursor)


@router.get(
    "/{webhook_id}",
    summary="Read a webhook subscription",
    response_model=WebhookRead,
    responses=problem_responses(401, 403, 404, 422) | response_headers(200, headers=(ETAG,)),
)
async def read_webhook(
    session: SessionDep,
    principal: ManagesWebhooks,
    partner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    response: Response,
) -> WebhookRead:
    subscription = await service.get_subscription(session, principal, partner_id, webhook_id)
    response.headers["ETag"] = etag(subscription.version)
    return _read(subscription)


@router.patch(
    "/{webhook_id}",
    summary="Change a webhook subscription (URL, event types, enabled)",
    response_model=WebhookRead,
    responses=problem_responses(401, 403, 404, 412, 422) | response_headers(200, headers=(ETAG,)),
)
async def update_webhook(
    session: SessionDep,
    settings: SettingsDep,
    principal: ManagesWebhooks,
    partner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookRead:
    """A new URL is checked as on subscription. Disabled: no new events are queued for it,
    and deliveries already queued end as failed (retry them by hand once enabled). With
    `If-Match`, refused (412) when the subscription changed since it was read."""
    subscription = await service.update_subscription(
        session, principal, settings, partner_id, webhook_id,
        body.model_dump(exclude_unset=True), parse_if_match(if_match),
    )  # fmt: skip
    response.headers["ETag"] = etag(subscription.version)
    return _read(subscription)


@router.delete(
    "/{webhook_id}",
    summary="Remove a webhook subscription",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def delete_webhook(
    session: SessionDep,
    principal: ManagesWebhooks,
    partner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    if_match: IfMatch = None,
) -> Response:
    """With its delivery log; nothing more is sent to it. With `If-Match`, refused (412)
    when the subscription changed since it was read."""
    await service.delete_subscription(
        session, principal, partner_id, webhook_id, parse_if_match(if_match)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/secret-rotation",
    summary="Rotate a webhook's signing secret",
    response_model=WebhookSecret,
    responses=problem_responses(401, 403, 404, 422) | response_headers(200, headers=(ETAG,)),
)
async def rotate_webhook_secret(
    session: SessionDep,
    principal: ManagesWebhooks,
    partner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    body: SecretRotation,
    response: Response,
) -> WebhookSecret:
    """The new secret is answered this once. During the overlap every delivery carries two
    signatures (new and previous secret) in `webhook-signature`, so the receiver can switch
    at its own pace."""
    subscription = await service.rotate_secret(
        session, principal, partner_id, webhook_id, timedelta(hours=body.overlap_hours)
    )
    response.headers["ETag"] = etag(subscription.version)
    return _with_secret(subscription)


@router.get(
    "/{webhook_id}/deliveries",
    summary="A webhook's delivery log",
    response_model=Page[DeliveryRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_webhook_deliveries(
    session: SessionDep,
    principal: ManagesWebhooks,
    partner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[DeliveryRead]:
    """Newest first: status, attempts, the last attempt's response code and latency."""
    rows, next_cursor = await service.list_deliveries(
        session, principal, partner_id, webhook_id, cursor, limit
    )
    return Page(items=[_delivery(d, k) for d, k in rows], next_cursor=next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    summary="Send a delivery again",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def retry_webhook_delivery(
    session: SessionDep,
    principal: ManagesWebhooks,
    partner_id: uuid.UUID,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> DeliveryRead:
    """Queued again at once (a failed one gets a fresh maximum age); the worker sends it
    with the same `webhook-id`."""
    delivery, kind = await service.retry_delivery(
        session, principal, partner_id, webhook_id, delivery_id
    )
    return _delivery(delivery, kind)
