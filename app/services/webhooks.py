"""Events to partners: the one module that emits webhook events, manages subscriptions and
delivers (signed per the Standard Webhooks spec with the ``standardwebhooks`` package).

Emitting. An event is a row of ``webhook_event`` (the transactional outbox) written by the
same transaction as the change it describes, with one ``webhook_delivery`` per enabled
subscription of the partner that wants its kind; a change rolled back emits nothing. The
ORM path calls :func:`emit` with a payload dataclass of ``app/domain/webhooks.py``;
set-based paths (aging, bulk breaks) add :func:`emit_ctes` to their own statement, so one
``INSERT … SELECT`` emits for every row they change. Both write through the same two CTEs.

Delivering (the worker's periodic ``cartera.webhooks`` job, app/jobs/tasks.py).
:func:`deliver_next` claims one due delivery with ``FOR UPDATE SKIP LOCKED``
(several workers share the queue) and makes the attempt while holding the row lock, in a
transaction bounded by the attempt's timeout. A worker killed mid-attempt releases the lock
with its connection, and the delivery, still pending with its attempt uncounted, is taken
again by another worker: at least once, with the same ``webhook-id`` (the event's id) so the
receiver can drop duplicates. A failed attempt is retried with exponential backoff and
jitter; past the event's maximum age the delivery is ``failed`` (retry it by hand).

SSRF. The URL is checked when subscribed and again at every attempt: the host is resolved,
every address must be public (or in ``webhook_allowed_networks``), and the connection goes to
the address that was checked (the Host header and TLS server name stay the URL's host), so a
name re-resolving to a private address between check and connect is not followed. Redirects
are not followed.
"""

from __future__ import annotations

import json
import random
import secrets as secrets_module
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from standardwebhooks.webhooks import Webhook

from app.config import Settings
from app.db import Database
from app.domain import webhooks as domain
from app.domain.errors import InvalidInput, NotFound, PermissionDenied, VersionMismatch
from app.domain.history import HistoryKind
from app.domain.roles import Role
from app.domain.webhooks import (
    DeliveryStatus,
    DestinationRefused,
    EventKind,
    IPAddress,
    RetryPolicy,
)
from app.i18n import N_
from app.models.partner import Partner
from app.models.webhook import WebhookDelivery, WebhookEvent, WebhookSubscription
from app.observability import observe_webhook_delivery
from app.pagination import decode_moment_cursor, split_moment_page
from app.security import Principal
from app.services import audit, history

log = structlog.get_logger("cartera.webhooks")

USER_AGENT = "Cartera-Webhooks/1"
RESPONSE_KEPT = 300

# ---------------------------------------------------------------------------------------
# Emitting


def payload_sql(kind: EventKind, **fields: str) -> str:
    """``jsonb_build_object`` of the kind's payload from one SQL expression per field; the
    names must be exactly the payload dataclass's (app/domain/webhooks.py)."""
    expected = domain.payload_fields(kind)
    if set(fields) != set(expected):
        raise TypeError(f"{kind.value} needs {sorted(expected)}, got {sorted(fields)}")
    pairs = ", ".join(f"'{name}', {fields[name]}" for name in expected)
    return f"jsonb_build_object({pairs})"


def emit_ctes(
    kind: EventKind,
    *,
    source: str,
    partner: str,
    payload: str,
    prefix: str = "wh",
    where: str = "TRUE",
    occurred_at: str = "clock_timestamp()",
) -> str:
    """Two CTEs (``{prefix}_event``, ``{prefix}_delivery``) that emit one ``kind`` event per
    row of the CTE or table ``source`` (aliased ``s`` in ``partner`` and ``payload``), with
    its deliveries. Append them to a ``WITH`` of the statement that makes the change."""
    return f"""
{prefix}_event AS (
    INSERT INTO webhook_event (id, partner_id, kind, payload, occurred_at)
    SELECT gen_random_uuid(), {partner}, '{kind.value}', {payload}, {occurred_at}
    FROM {source} s
    WHERE {where}
    RETURNING id, partner_id, kind, occurred_at
),
{prefix}_delivery AS (
    INSERT INTO webhook_delivery (id, event_id, subscription_id, partner_id, status, attempts,
                                  created_at, next_attempt_at)
    SELECT gen_random_uuid(), e.id, w.id, e.partner_id, 'pending', 0, e.occurred_at,
           e.occurred_at
    FROM {prefix}_event e
    JOIN webhook_subscription w
      ON w.partner_id = e.partner_id AND w.enabled AND e.kind = ANY(w.event_types)
    RETURNING 1
)"""


_EMIT_ONE = (
    "WITH one AS (SELECT CAST(:partner_id AS uuid) AS partner_id, CAST(:payload AS jsonb) AS"
    " payload), " + "{ctes} SELECT id FROM wh_event"
)


async def emit(
    session: AsyncSession, kind: EventKind, partner_id: uuid.UUID, payload: domain.Payload
) -> uuid.UUID:
    """Emit one event in the session's transaction (with its deliveries); its id."""
    data = domain.payload_of(kind, payload)
    statement = _EMIT_ONE.format(
        ctes=emit_ctes(kind, source="one", partner="s.partner_id", payload="s.payload")
    )
    event_id = await session.scalar(
        text(statement), {"partner_id": partner_id, "payload": json.dumps(data)}
    )
    assert event_id is not None
    return event_id


def emit_all_sql(kind: EventKind, select_sql: str, *, partner: str, payload: str) -> str:
    """A whole statement emitting one event per row of ``select_sql`` (aliased ``s``); its
    result is the number of events."""
    ctes = emit_ctes(kind, source="src", partner=partner, payload=payload)
    return f"WITH src AS ({select_sql}), {ctes} SELECT count(*) FROM wh_event"


_EXTERNAL_REF = "(SELECT a.external_ref FROM account a WHERE a.id = s.account_id)"


def _account_status_ctes(kind: EventKind, source: str, status: str, prefix: str) -> str:
    return emit_ctes(
        kind,
        source=source,
        prefix=prefix,
        where=f"s.kind IN ({history.STATUS.kinds_sql})"
        f" AND {history.STATUS.text('s.after')} = '{status}'",
        partner="s.partner_id",
        payload=payload_sql(
            kind,
            account_id="s.account_id",
            external_ref=_EXTERNAL_REF,
            status=f"'{status}'",
            reason=history.REASON.text("s.after"),
        ),
    )


def account_event_ctes(source: str) -> str:
    """CTEs emitting what partners hear of account history rows (``account_event`` rows in
    the CTE or table ``source``: account_id, partner_id, kind, as_of, before, after): a stage
    change is ``account.stage_changed``, a status change to closed or recalled is
    ``account.closed`` / ``account.recalled``. Every path that writes those history rows —
    set-based (aging, pushes, recalls) or through the ORM (payments) — emits through this."""
    stage = emit_ctes(
        EventKind.ACCOUNT_STAGE_CHANGED,
        source=source,
        prefix="wh_stage",
        where=f"s.kind = '{HistoryKind.STAGE_CHANGED.value}'",
        partner="s.partner_id",
        payload=payload_sql(
            EventKind.ACCOUNT_STAGE_CHANGED,
            account_id="s.account_id",
            external_ref=_EXTERNAL_REF,
            from_stage=history.STAGE.text("s.before"),
            to_stage=history.STAGE.text("s.after"),
            dpd=f"CAST({history.DPD.text('s.after')} AS integer)",
            as_of="s.as_of",
        ),
    )
    closed = _account_status_ctes(EventKind.ACCOUNT_CLOSED, source, "closed", "wh_closed")
    recalled = _account_status_ctes(EventKind.ACCOUNT_RECALLED, source, "recalled", "wh_recalled")
    return f"{stage},{closed},{recalled}"


# Columns of account_event a source of account_event_ctes returns.
ACCOUNT_EVENT_RETURNING = "RETURNING account_id, partner_id, kind, as_of, before, after"

_FROM_ACCOUNT_EVENTS = (
    "WITH src AS (SELECT account_id, partner_id, kind, as_of, before, after FROM account_event"
    " WHERE seq = ANY(CAST(:seqs AS bigint[]))), "
    + account_event_ctes("src")
    + " SELECT count(*) FROM src"
)


async def emit_account_events(session: AsyncSession, seqs: Sequence[int]) -> None:
    """Emit for account history rows already flushed (by their ``seq``), in one statement."""
    if seqs:
        await session.execute(text(_FROM_ACCOUNT_EVENTS), {"seqs": list(seqs)})


def plan_ctes(kind: EventKind, source: str, *, prefix: str = "wh_plan") -> str:
    """CTEs emitting ``kind`` for each payment plan row of ``source`` (id, account_id,
    partner_id, plan_type, status)."""
    return emit_ctes(
        kind,
        source=source,
        prefix=prefix,
        partner="s.partner_id",
        payload=payload_sql(
            kind,
            plan_id="s.id",
            account_id="s.account_id",
            external_ref=_EXTERNAL_REF,
            plan_type="s.plan_type",
            status="s.status",
        ),
    )


def promise_ctes(
    kind: EventKind, source: str, *, where: str = "TRUE", prefix: str = "wh_promise"
) -> str:
    """CTEs emitting ``kind`` for each promise row of ``source`` (id, account_id, partner_id,
    amount, currency, due_date, status)."""
    return emit_ctes(
        kind,
        source=source,
        prefix=prefix,
        where=where,
        partner="s.partner_id",
        payload=payload_sql(
            kind,
            promise_id="s.id",
            account_id="s.account_id",
            external_ref=_EXTERNAL_REF,
            amount="CAST(s.amount AS text)",
            currency="s.currency",
            due_on="s.due_date",
            status="s.status",
        ),
    )


_PAYMENTS = (
    "WITH src AS (SELECT id, account_id, partner_id, amount, currency, paid_on, channel,"
    " payer_reference FROM payment WHERE id = ANY(CAST(:ids AS uuid[]))), "
    + emit_ctes(
        EventKind.PAYMENT_RECORDED,
        source="src",
        partner="s.partner_id",
        payload=payload_sql(
            EventKind.PAYMENT_RECORDED,
            payment_id="s.id",
            account_id="s.account_id",
            external_ref=_EXTERNAL_REF,
            amount="CAST(s.amount AS text)",
            currency="s.currency",
            paid_on="s.paid_on",
            channel="s.channel",
            reference="s.payer_reference",
        ),
    )
    + " SELECT count(*) FROM wh_event"
)


async def emit_payments_recorded(session: AsyncSession, payment_ids: Sequence[uuid.UUID]) -> None:
    """``payment.recorded`` for payments already flushed, in one statement (a payment file's
    thousands of lines included)."""
    if payment_ids:
        await session.execute(text(_PAYMENTS), {"ids": list(payment_ids)})


_PLANS_BY_ID = (
    "WITH src AS (SELECT id, account_id, partner_id, plan_type, status FROM payment_plan"
    " WHERE id = ANY(CAST(:ids AS uuid[]))), {ctes} SELECT count(*) FROM src"
)


async def emit_plans(session: AsyncSession, kind: EventKind, plan_ids: Sequence[uuid.UUID]) -> None:
    """``kind`` (a plan.* event) for plans already flushed, in one statement."""
    if plan_ids:
        statement = _PLANS_BY_ID.format(ctes=plan_ctes(kind, "src"))
        await session.execute(text(statement), {"ids": list(plan_ids)})


# ---------------------------------------------------------------------------------------
# Subscriptions


MANAGERS = frozenset({Role.ADMIN, Role.PARTNER})


async def partner_for_webhooks(
    session: AsyncSession, principal: Principal, partner_id: uuid.UUID
) -> Partner:
    """The partner whose subscriptions are managed: its own system, or an admin."""
    if principal.role not in MANAGERS:
        raise PermissionDenied({"role": principal.role.value})
    if principal.role is Role.PARTNER and principal.partner_id != partner_id:
        raise NotFound({"entity": "partner"})
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound({"entity": "partner"})
    return partner


async def _subscription(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    subscription_id: uuid.UUID,
    *,
    lock: bool = False,
) -> WebhookSubscription:
    await partner_for_webhooks(session, principal, partner_id)
    query = select(WebhookSubscription).where(
        col(WebhookSubscription.id) == subscription_id,
        col(WebhookSubscription.partner_id) == partner_id,
    )
    if lock:
        query = query.with_for_update()
    found = await session.scalar(query)
    if found is None:
        raise NotFound({"entity": "webhook"})
    return found


def _check_version(subscription: WebhookSubscription, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != subscription.version:
        raise VersionMismatch({"current": subscription.version})


def _new_secret() -> str:
    return domain.secret_text(secrets_module.token_bytes(domain.SECRET_BYTES))


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal is itself)."""
    literal = domain.literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        address = domain.literal_address(str(info[4][0]))
        if address is not None and address not in found:
            found.append(address)
    return found


async def check_destination(
    url: str, settings: Settings
) -> tuple[domain.Destination, list[IPAddress]]:
    """The URL's destination and the addresses it may be called at, or DestinationRefused."""
    destination = domain.parse_destination(url, require_https=settings.env == "production")
    addresses = await resolve(destination.host, destination.port)
    domain.check_addresses(addresses, list(settings.webhook_allowed_networks))
    return destination, addresses


async def _checked_url(url: str, settings: Settings) -> str:
    try:
        await check_destination(url, settings)
    except DestinationRefused as exc:
        raise InvalidInput("url", N_("refused: {reason}"), {"reason": exc.text}) from exc
    return url


def _audited(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "enabled": subscription.enabled,
    }


async def create_subscription(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    partner_id: uuid.UUID,
    *,
    url: str,
    event_types: Sequence[EventKind],
    enabled: bool,
    description: str | None,
) -> WebhookSubscription:
    """A new subscription with a new signing secret (answered once, by the caller)."""
    await partner_for_webhooks(session, principal, partner_id)
    subscription = WebhookSubscription(
        partner_id=partner_id,
        url=await _checked_url(url, settings),
        event_types=sorted({k.value for k in event_types}),
        enabled=enabled,
        description=description,
        secret=_new_secret(),
        created_by=principal.audit_id,
    )
    session.add(subscription)
    await session.flush()
    await audit.record(
        session, principal, "webhook.created", "webhook_subscription", subscription.id,
        after=_audited(subscription),
    )  # fmt: skip
    return subscription


async def list_subscriptions(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    cursor: uuid.UUID | None,
    limit: int,
) -> list[WebhookSubscription]:
    await partner_for_webhooks(session, principal, partner_id)
    query = select(WebhookSubscription).where(col(WebhookSubscription.partner_id) == partner_id)
    if cursor is not None:
        query = query.where(col(WebhookSubscription.id) > cursor)
    rows = await session.scalars(query.order_by(col(WebhookSubscription.id)).limit(limit + 1))
    return list(rows)


async def get_subscription(
    session: AsyncSession, principal: Principal, partner_id: uuid.UUID, subscription_id: uuid.UUID
) -> WebhookSubscription:
    return await _subscription(session, principal, partner_id, subscription_id)


async def update_subscription(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    partner_id: uuid.UUID,
    subscription_id: uuid.UUID,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> WebhookSubscription:
    """Change the URL (checked again), the event kinds, ``enabled`` or the description;
    ``expected_version`` is the caller's If-Match (412 when the subscription moved on)."""
    subscription = await _subscription(session, principal, partner_id, subscription_id, lock=True)
    _check_version(subscription, expected_version)
    before = _audited(subscription)
    if changes.get("url") is not None:
        subscription.url = await _checked_url(changes["url"], settings)
    if changes.get("event_types") is not None:
        subscription.event_types = sorted({EventKind(k).value for k in changes["event_types"]})
    if changes.get("enabled") is not None:
        subscription.enabled = bool(changes["enabled"])
    if "description" in changes:
        subscription.description = changes["description"]
    subscription.version += 1
    subscription.updated_at = datetime.now(UTC)
    session.add(subscription)
    await session.flush()
    await audit.record(
        session, principal, "webhook.updated", "webhook_subscription", subscription.id,
        before=before, after=_audited(subscription),
    )  # fmt: skip
    return subscription


async def delete_subscription(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    subscription_id: uuid.UUID,
    expected_version: int | None = None,
) -> None:
    """Remove a subscription with its delivery log (events stay in the outbox)."""
    subscription = await _subscription(session, principal, partner_id, subscription_id, lock=True)
    _check_version(subscription, expected_version)
    before = _audited(subscription)
    await session.delete(subscription)
    await session.flush()
    await audit.record(
        session, principal, "webhook.deleted", "webhook_subscription", subscription_id,
        before=before,
    )  # fmt: skip


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    subscription_id: uuid.UUID,
    overlap: timedelta,
    now: datetime | None = None,
) -> WebhookSubscription:
    """A new signing secret; the old one keeps signing too (both signatures on every
    delivery) until the overlap ends, so the receiver can switch without losing events."""
    moment = now or datetime.now(UTC)
    subscription = await _subscription(session, principal, partner_id, subscription_id, lock=True)
    if overlap > timedelta(0):
        subscription.previous_secret = subscription.secret
        subscription.previous_secret_until = moment + overlap
    else:
        subscription.previous_secret = None
        subscription.previous_secret_until = None
    subscription.secret = _new_secret()
    subscription.version += 1
    subscription.updated_at = moment
    session.add(subscription)
    await session.flush()
    await audit.record(
        session, principal, "webhook.secret_rotated", "webhook_subscription", subscription.id,
        after={"previous_secret_until": subscription.previous_secret_until},
    )  # fmt: skip
    return subscription


# ---------------------------------------------------------------------------------------
# Delivery log


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    subscription_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> tuple[list[tuple[WebhookDelivery, str]], str | None]:
    """Newest first: each delivery with its event's kind, and the next cursor."""
    await _subscription(session, principal, partner_id, subscription_id)
    after = decode_moment_cursor(cursor)
    query = (
        select(WebhookDelivery, col(WebhookEvent.kind))
        .join(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_id))
        .where(col(WebhookDelivery.subscription_id) == subscription_id)
    )
    if after is not None:
        moment, last_id = after
        query = query.where(
            (col(WebhookDelivery.created_at) < moment)
            | ((col(WebhookDelivery.created_at) == moment) & (col(WebhookDelivery.id) < last_id))
        )
    rows = (
        await session.execute(
            query.order_by(
                col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()
            ).limit(limit + 1)
        )
    ).all()
    pairs = [(d, k) for d, k in rows]
    return split_moment_page(pairs, limit, lambda p: (p[0].created_at, p[0].id))


async def retry_delivery(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    now: datetime | None = None,
) -> tuple[WebhookDelivery, str]:
    """Queue a delivery again now (a failed one gets a fresh maximum age from now)."""
    await _subscription(session, principal, partner_id, subscription_id)
    moment = now or datetime.now(UTC)
    # NOWAIT would answer 409 while an attempt is under way; waiting is bounded by the
    # attempt's timeout, and then the outcome is known.
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.subscription_id) == subscription_id,
        )
        .with_for_update()
    )
    if delivery is None:
        raise NotFound({"entity": "delivery"})
    if delivery.status != "pending":
        # The maximum age counts again from the hand retry.
        delivery.created_at = moment
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = moment
    session.add(delivery)
    await session.flush()
    kind = await session.scalar(
        select(col(WebhookEvent.kind)).where(col(WebhookEvent.id) == delivery.event_id)
    )
    await audit.record(
        session, principal, "webhook.delivery_retried", "webhook_delivery", delivery.id,
    )  # fmt: skip
    return delivery, str(kind)


# ---------------------------------------------------------------------------------------
# Delivering


@dataclass(frozen=True, slots=True)
class Attempt:
    delivered: bool
    response_code: int | None
    latency_ms: int | None
    error: str | None


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base=timedelta(seconds=settings.webhook_retry_base_seconds),
        cap=timedelta(seconds=settings.webhook_retry_cap_seconds),
        max_age=timedelta(hours=settings.webhook_max_age_hours),
    )


def sign(secrets: Sequence[str], msg_id: str, moment: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,…`` per secret, space-separated."""
    return " ".join(Webhook(s).sign(msg_id, moment, body) for s in secrets)


def _pinned_url(url: str, destination: domain.Destination, address: IPAddress) -> httpx.URL:
    parsed = httpx.URL(url)
    return parsed.copy_with(host=str(address))


async def attempt(
    subscription: WebhookSubscription, event: WebhookEvent, settings: Settings
) -> Attempt:
    """One signed POST of the event to the subscription's URL (checked again first)."""
    try:
        destination, addresses = await check_destination(subscription.url, settings)
    except DestinationRefused as exc:
        return Attempt(False, None, None, domain.clip(f"refused: {exc.reason}", RESPONSE_KEPT))
    now = datetime.now(UTC)
    body = json.dumps(
        domain.envelope(EventKind(event.kind), event.occurred_at, event.payload),
        separators=(",", ":"),
        ensure_ascii=False,
    )
    msg_id = str(event.id)
    keys = domain.signing_secrets(
        subscription.secret,
        subscription.previous_secret,
        subscription.previous_secret_until,
        now,
    )
    host_header = destination.host if ":" not in destination.host else f"[{destination.host}]"
    default_port = 443 if destination.scheme == "https" else 80
    if destination.port != default_port:
        host_header = f"{host_header}:{destination.port}"
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": host_header,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(keys, msg_id, now, body),
    }
    url = _pinned_url(subscription.url, destination, addresses[0])
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False
        ) as client:
            response = await client.post(
                url,
                content=body.encode(),
                headers=headers,
                extensions={"sni_hostname": destination.host},
            )
    except httpx.HTTPError as exc:
        latency = round((time.perf_counter() - started) * 1000)
        reason = type(exc).__name__
        return Attempt(False, None, latency, domain.clip(reason, RESPONSE_KEPT))
    latency = round((time.perf_counter() - started) * 1000)
    ok = 200 <= response.status_code < 300
    error = None if ok else domain.clip(f"HTTP {response.status_code}", RESPONSE_KEPT)
    return Attempt(ok, response.status_code, latency, error)


_CLAIM = """
SELECT id FROM webhook_delivery
WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
ORDER BY next_attempt_at
LIMIT 1
FOR UPDATE SKIP LOCKED
"""


async def deliver_next(database: Database, settings: Settings) -> uuid.UUID | None:
    """Claim one due delivery and attempt it, holding its row lock to the end; its id, or
    None when nothing is due."""
    async with database.sessionmaker() as session, session.begin():
        delivery_id = await session.scalar(text(_CLAIM))
        if delivery_id is None:
            return None
        delivery = await session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        event = await session.get(WebhookEvent, delivery.event_id)
        subscription = await session.get(WebhookSubscription, delivery.subscription_id)
        assert event is not None and subscription is not None
        if not subscription.enabled:
            outcome = Attempt(False, None, None, "the subscription is disabled")
            delivery.status = DeliveryStatus.FAILED
        else:
            outcome = await attempt(subscription, event, settings)
        await _record(session, delivery, outcome, settings)
    observe_webhook_delivery(outcome.delivered, delivery.status)
    log.info(
        "webhook attempt",
        delivery_id=str(delivery_id),
        delivered=outcome.delivered,
        response_code=outcome.response_code,
        latency_ms=outcome.latency_ms,
        attempts=delivery.attempts,
        status=delivery.status,
    )
    return delivery_id


async def _record(
    session: AsyncSession, delivery: WebhookDelivery, outcome: Attempt, settings: Settings
) -> None:
    now = datetime.now(UTC)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_code = outcome.response_code
    delivery.latency_ms = outcome.latency_ms
    delivery.last_error = outcome.error
    if outcome.delivered:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
    elif delivery.status == "pending":
        later = domain.next_attempt(
            retry_policy(settings),
            delivery.attempts,
            delivery.created_at,
            now,
            random.random(),  # noqa: S311 (jitter)
        )
        if later is None:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.next_attempt_at = later
    session.add(delivery)
    await session.flush()


async def deliver_due(
    database: Database, settings: Settings, *, at_most: int = 50, lanes: int = 1
) -> int:
    """Attempt due deliveries until none is due (or ``at_most``), ``lanes`` at a time (each
    on a connection of its own); how many were tried. The worker's ``cartera.webhooks`` job
    runs this every 2 s (app/jobs/tasks.py)."""
    tried = 0

    async def lane() -> None:
        nonlocal tried
        while tried < at_most and await deliver_next(database, settings) is not None:
            tried += 1

    async with anyio.create_task_group() as group:
        for _ in range(lanes):
            group.start_soon(lane)
    return tried
