"""The one way every state change is recorded: an append-only, hash-chained audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col, select

from app import locks
from app.domain.audit import (
    GENESIS_HASH,
    BrokenLink,
    ChainedEvent,
    EventContent,
    chain_hash,
    check_link,
    to_json_value,
)
from app.models.audit import AuditEvent
from app.observability import request_id_var
from app.pagination import decode_int_cursor, split_page
from app.security import Principal

# Serialises appends so each event links to the one committed before it. Held to the end
# of the writing transaction, so services record their audit event as their last step.


@dataclass(frozen=True, slots=True)
class Change:
    """One change to record with :func:`record_many`."""

    action: str
    entity_type: str
    entity_id: object
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


def _event(prev_hash: str, actor: Principal, change: Change, occurred_at: datetime) -> AuditEvent:
    if occurred_at.tzinfo is None:
        raise ValueError("audit times must be aware")
    content = EventContent(
        # Hashed as PostgreSQL will hand it back: in UTC.
        occurred_at=occurred_at.astimezone(UTC),
        actor_id=actor.audit_id,
        actor_role=actor.role.value,
        action=change.action,
        entity_type=change.entity_type,
        entity_id=str(change.entity_id),
        before=to_json_value(change.before) if change.before is not None else None,
        after=to_json_value(change.after) if change.after is not None else None,
        request_id=request_id_var.get(),
    )
    return AuditEvent(
        occurred_at=content.occurred_at,
        actor_id=content.actor_id,
        actor_role=content.actor_role,
        action=content.action,
        entity_type=content.entity_type,
        entity_id=content.entity_id,
        before=dict(content.before) if content.before is not None else None,
        after=dict(content.after) if content.after is not None else None,
        request_id=content.request_id,
        prev_hash=prev_hash,
        hash=chain_hash(prev_hash, content),
    )


async def record_many(
    session: AsyncSession,
    actor: Principal,
    changes: Sequence[Change],
    *,
    now: datetime | None = None,
) -> list[AuditEvent]:
    """Append ``changes`` in order, chained, with one lock, one read and one insert batch
    (a payment file records a change per payment)."""
    if not changes:
        return []
    await locks.hold_audit_chain(session)
    prev = await session.scalar(
        select(col(AuditEvent.hash)).order_by(col(AuditEvent.seq).desc()).limit(1)
    )
    occurred_at = now or datetime.now(UTC)
    events: list[AuditEvent] = []
    prev_hash = prev or GENESIS_HASH
    for change in changes:
        event = _event(prev_hash, actor, change, occurred_at)
        events.append(event)
        prev_hash = event.hash
    session.add_all(events)
    await session.flush()
    return events


async def record(
    session: AsyncSession,
    actor: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    change = Change(action, entity_type, entity_id, before, after)
    return (await record_many(session, actor, [change], now=now))[0]


@dataclass(frozen=True, slots=True)
class EventFilter:
    entity_type: str | None = None
    entity_id: str | None = None
    actor_id: str | None = None
    action: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


async def list_events(
    session: AsyncSession, filters: EventFilter, *, limit: int, cursor: str | None
) -> tuple[list[AuditEvent], str | None]:
    """Newest first, keyset-paginated on the chain order."""
    query = select(AuditEvent)
    before_seq = decode_int_cursor(cursor)
    if before_seq is not None:
        query = query.where(col(AuditEvent.seq) < before_seq)
    for column, value in (
        (AuditEvent.entity_type, filters.entity_type),
        (AuditEvent.entity_id, filters.entity_id),
        (AuditEvent.actor_id, filters.actor_id),
        (AuditEvent.action, filters.action),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    if filters.occurred_from is not None:
        query = query.where(col(AuditEvent.occurred_at) >= filters.occurred_from)
    if filters.occurred_to is not None:
        query = query.where(col(AuditEvent.occurred_at) < filters.occurred_to)
    query = query.order_by(col(AuditEvent.seq).desc()).limit(limit + 1)
    events = (await session.scalars(query)).all()
    return split_page(events, limit, key=lambda e: e.seq)


def _chained(row: Any) -> ChainedEvent:
    return ChainedEvent(
        seq=row.seq,
        prev_hash=row.prev_hash,
        hash=row.hash,
        content=EventContent(
            occurred_at=row.occurred_at,
            actor_id=row.actor_id,
            actor_role=row.actor_role,
            action=row.action,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            before=row.before,
            after=row.after,
            request_id=row.request_id,
        ),
    )


async def _stream(connection: AsyncConnection, batch: int) -> AsyncIterator[ChainedEvent]:
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    result = await connection.stream(
        core_select(table).order_by(table.c.seq).execution_options(yield_per=batch)
    )
    async for row in result:
        yield _chained(row)


async def verify_chain(
    connection: AsyncConnection, batch: int = 5000
) -> tuple[int, BrokenLink | None]:
    """Walk the whole chain in order; (events checked, first broken link or None)."""
    checked = 0
    expected_prev = GENESIS_HASH
    async for event in _stream(connection, batch):
        broken = check_link(expected_prev, event)
        if broken is not None:
            return checked, broken
        expected_prev = event.hash
        checked += 1
    return checked, None
