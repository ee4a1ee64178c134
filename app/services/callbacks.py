"""Callbacks: scheduled by a RPC_CALLBACK interaction, taken up by the collector's work queue
from the moment the contact law allows the call, done by the next interaction on the account
once due, cancelled with the account; listed for the lead (due, missed, done …).

The rules are in app/domain/callbacks.py; when a call is allowed is the contact check's
(:meth:`app.services.contact_check.ContactContext.decide`, whose ``next_allowed_at`` is the one
home of "the next lawful moment"). Recording interactions (app/services/interactions.py)
calls :func:`agreed_moment` before anything is written, then :func:`settle` and
:func:`schedule`; the work queue (app/services/worklists.py) reads open, due callbacks.

Lists go through :func:`app.services.accounts.readable_accounts`: a collector sees the
callbacks of their accounts, a team lead their teams', managers, admins and auditors all,
a partner system those of its own portfolio (as it reads the interactions that agreed them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.config import Settings
from app.domain.callbacks import (
    CallbackStatus,
    CancelReason,
    agreed_instant,
    callback_zone,
    due_moment,
    status_of,
)
from app.domain.contact_check import ContactChannel, Party
from app.domain.interactions import reason_record
from app.models.account import Account
from app.models.callback import Callback
from app.models.debtor import ContactPoint
from app.models.interaction import Interaction
from app.models.partner import Partner
from app.models.user import TeamMember
from app.pagination import decode_moment_cursor, split_moment_page
from app.schemas.interactions import CallbackIn
from app.security import Principal
from app.services.accounts import readable_accounts
from app.services.contact_check import call_zones, contact_context


@dataclass(frozen=True, slots=True)
class Agreed:
    """The callback's time as the debtor stated it, read on their clock."""

    at: datetime  # the instant, UTC
    time_zone: str
    phone: ContactPoint | None  # the debtor's number it is to be made to, if one was named


@dataclass(frozen=True, slots=True)
class CallbackView:
    callback: Callback
    status: CallbackStatus
    missed_after: datetime  # when it counts as missed if still not done


def _open() -> ColumnElement[bool]:
    return and_(col(Callback.done_at).is_(None), col(Callback.cancelled_at).is_(None))


def _phone(point: ContactPoint | None) -> ContactPoint | None:
    """The debtor's own phone the contact went through, if it did (a call back goes there)."""
    if point is None or point.kind != "phone" or point.related_party_id is not None:
        return None
    return point


async def agreed_moment(
    session: AsyncSession,
    account: Account,
    partner: Partner,
    point: ContactPoint | None,
    body: CallbackIn,
    now: datetime,
) -> Agreed:
    """The agreed instant, from the local time the debtor stated in one of the zones a call
    to them reaches them in (the contact check's reading of their evidence). Refuses a time
    already past or too far ahead, before anything is written."""
    phone = _phone(point)
    zone = callback_zone(body.time_zone, await call_zones(session, account, partner, phone))
    return Agreed(agreed_instant(body.local_time, zone, now), zone, phone)


async def settle(
    session: AsyncSession, account_id: uuid.UUID, interaction: Interaction, now: datetime
) -> None:
    """An interaction on the account that started once a callback was due does it."""
    await session.execute(
        update(Callback)
        .where(
            col(Callback.account_id) == account_id,
            _open(),
            col(Callback.due_at) <= interaction.started_at,
        )
        .values(done_at=now, done_interaction_id=interaction.id)
    )


async def cancel_agreed_in(session: AsyncSession, interaction_id: uuid.UUID, now: datetime) -> None:
    """The interaction that agreed a callback was corrected: its callback goes with it."""
    await session.execute(
        update(Callback)
        .where(col(Callback.interaction_id) == interaction_id, _open())
        .values(cancelled_at=now, cancel_reason=CancelReason.CORRECTED.value)
    )


async def schedule(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    account: Account,
    interaction: Interaction,
    agreed: Agreed,
    now: datetime,
) -> Callback:
    """The one way a callback is created. Its due moment is the agreed instant if the
    contact law (and the strategy) allow calling the debtor then, judged with the history
    that includes ``interaction``; else the check's next allowed moment. It replaces the
    account's other open callbacks, and heads the queue of the account's collector."""
    context = await contact_context(
        session,
        settings,
        principal,
        account.id,
        channel=ContactChannel.CALL,
        party=Party.DEBTOR,
        contact_point_id=agreed.phone.id if agreed.phone is not None else None,
        at=agreed.at,
        account=account,
    )
    due_at, reasons = due_moment(agreed.at, context.decide())
    await session.execute(
        update(Callback)
        .where(col(Callback.account_id) == account.id, _open())
        .values(cancelled_at=now, cancel_reason=CancelReason.SUPERSEDED.value)
    )
    callback = Callback(
        account_id=account.id,
        partner_id=account.partner_id,
        debtor_id=account.debtor_id,
        interaction_id=interaction.id,
        collector_id=account.assigned_collector_id,
        agreed_at=agreed.at,
        time_zone=agreed.time_zone,
        due_at=due_at,
        deferred_reasons=[reason_record(r, context.pack.sources) for r in reasons],
        created_by=principal.audit_id,
        created_at=now,
    )
    session.add(callback)
    await session.flush()
    return callback


# ---------------------------------------------------------------------------------------
# Reading


def _with_status(
    status: CallbackStatus, now: datetime, grace: timedelta
) -> list[ColumnElement[bool]]:
    """The conditions of one status at ``now`` (as :func:`status_of` decides it)."""
    due_at = col(Callback.due_at)
    if status is CallbackStatus.DONE:
        return [col(Callback.done_at).is_not(None)]
    if status is CallbackStatus.CANCELLED:
        return [col(Callback.cancelled_at).is_not(None)]
    if status is CallbackStatus.SCHEDULED:
        return [_open(), due_at > now]
    if status is CallbackStatus.DUE:
        return [_open(), due_at <= now, due_at > now - grace]
    return [_open(), due_at <= now - grace]


def view(callback: Callback, now: datetime, grace: timedelta) -> CallbackView:
    return CallbackView(
        callback,
        status_of(callback.due_at, callback.done_at, callback.cancelled_at, now, grace),
        callback.due_at + grace,
    )


def _filtered(
    principal: Principal,
    status: CallbackStatus | None,
    collector_id: uuid.UUID | None,
    team_id: uuid.UUID | None,
    now: datetime,
    grace: timedelta,
) -> Any:
    query = select(Callback).where(
        col(Callback.account_id).in_(
            readable_accounts(principal).with_only_columns(col(Account.id))
        )
    )
    if status is not None:
        query = query.where(*_with_status(status, now, grace))
    if collector_id is not None:
        query = query.where(col(Callback.collector_id) == collector_id)
    if team_id is not None:
        query = query.where(
            col(Callback.collector_id).in_(
                select(col(TeamMember.user_id)).where(col(TeamMember.team_id) == team_id)
            )
        )
    return query


async def count_callbacks(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    status: CallbackStatus,
    collector_id: uuid.UUID | None,
    now: datetime,
) -> int:
    grace = timedelta(minutes=settings.callback_grace_minutes)
    query = _filtered(principal, status, collector_id, None, now, grace).subquery()
    return int(await session.scalar(select(func.count()).select_from(query)) or 0)


async def list_callbacks(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    status: CallbackStatus | None,
    collector_id: uuid.UUID | None,
    team_id: uuid.UUID | None,
    now: datetime,
    limit: int,
    cursor: str | None,
) -> tuple[list[CallbackView], str | None]:
    """The callbacks of the accounts the caller may see, latest due first (keyset by due
    time and id), in one statement."""
    grace = timedelta(minutes=settings.callback_grace_minutes)
    query = _filtered(principal, status, collector_id, team_id, now, grace)
    after = decode_moment_cursor(cursor)
    if after is not None:
        query = query.where(tuple_(col(Callback.due_at), col(Callback.id)) < tuple_(*after))
    rows = (
        await session.scalars(
            query.order_by(col(Callback.due_at).desc(), col(Callback.id).desc()).limit(limit + 1)
        )
    ).all()
    page, next_cursor = split_moment_page(rows, limit, key=lambda r: (r.due_at, r.id))
    return [view(r, now, grace) for r in page], next_cursor
