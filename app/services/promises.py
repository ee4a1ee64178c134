"""Promises to pay: listed per account; resolved each night (and, with the next issue, by
payments) in set-based SQL; broken ones escalate the account when the strategy says so."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app import locks
from app.domain.stages import Stage
from app.domain.strategies import StrategyDocument, escalation_rule, promise_terms
from app.domain.webhooks import EventKind, PromiseEvent
from app.models.account import Account
from app.models.interaction import Interaction
from app.models.promise import Promise
from app.pagination import decode_day_cursor, split_page
from app.security import SYSTEM, Principal
from app.services import accounts, audit, escalations, webhooks

# Mirrors app/domain/interactions.py promise_outcome: kept once paid reaches the amount less
# the tolerance; after due date + grace, partially kept (something paid) or broken.
_RESOLVE = f"""
WITH resolved AS (
    UPDATE promise p
    SET status = CASE
            WHEN p.paid_amount >= p.amount * (100 - p.tolerance_pct) / 100 THEN 'kept'
            WHEN p.paid_amount > 0 THEN 'partially_kept'
            ELSE 'broken' END,
        resolved_on = :as_of, updated_at = :now
    WHERE p.status = 'pending'
      AND (p.paid_amount >= p.amount * (100 - p.tolerance_pct) / 100
           OR p.due_date + p.grace_days < :as_of)
    RETURNING p.id, p.account_id, p.partner_id, p.amount, p.currency, p.due_date, p.status
),
{webhooks.promise_ctes(EventKind.PROMISE_BROKEN, "resolved", where="s.status = 'broken'")}
SELECT count(*) FILTER (WHERE status = 'kept'),
       count(*) FILTER (WHERE status = 'partially_kept'),
       count(*) FILTER (WHERE status = 'broken')
FROM resolved
"""

# Accounts whose broken promises reached their strategy's trigger, with nothing open.
# (A resolved one opened since the last broken promise also holds it back: no reopening
# for the same breaches.)
_ESCALATE = escalations.opening_sql(
    """(
        SELECT account_id, partner_id, count(*) AS broken,
               min(escalate_after_broken) AS threshold,
               max(strategy_version) AS strategy_version, max(updated_at) AS last_broken_at
        FROM promise
        WHERE status = 'broken'
        GROUP BY account_id, partner_id
    ) b""",
    trigger="broken_promises",
    opened_by="system:promises",
    reason_sql="b.broken || ' broken promises'",
    where="b.threshold IS NOT NULL AND b.broken >= b.threshold",
    also_skip_when="e.trigger = 'broken_promises' AND e.opened_at >= b.last_broken_at",
)


@dataclass(frozen=True, slots=True)
class FollowUp:
    as_of: date
    kept: int
    partially_kept: int
    broken: int
    escalated: int


async def follow_up(session: AsyncSession, as_of: date, *, now: datetime | None = None) -> FollowUp:
    """Resolve the promises due by ``as_of``; running it twice for a date changes nothing."""
    moment = now or datetime.now(UTC)
    await locks.hold(session, locks.LockClass.PROMISE_FOLLOW_UP)
    kept, partial, broken = (
        await session.execute(text(_RESOLVE), {"as_of": as_of, "now": moment})
    ).one()
    escalated = getattr(await session.execute(text(_ESCALATE), {"now": moment}), "rowcount", 0)
    result = FollowUp(as_of, int(kept), int(partial), int(broken), int(escalated))
    await audit.record(
        session,
        SYSTEM,
        "promises.follow_up",
        "promise_run",
        as_of.isoformat(),
        after={
            "kept": result.kept,
            "partially_kept": result.partially_kept,
            "broken": result.broken,
            "escalated": result.escalated,
        },
        now=moment,
    )
    return result


async def take_promise(
    session: AsyncSession,
    actor: audit.Actor,
    account: Account,
    interaction: Interaction,
    amount: Decimal,
    due_date: date,
    document: StrategyDocument,
    strategy_version: int | None,
    *,
    experiment_arm_id: uuid.UUID | None = None,
) -> Promise:
    """The one way a promise is made: from the interaction it was given in (a collector's
    RPC_PTP or the debtor's own in the portal), with the strategy's terms of the account's
    stage frozen on it (grace, tolerance, escalation after broken promises)."""
    stage = Stage(account.stage)
    terms = promise_terms(document, stage)
    promise = Promise(
        account_id=account.id,
        partner_id=account.partner_id,
        interaction_id=interaction.id,
        amount=amount,
        currency=account.currency,
        due_date=due_date,
        grace_days=terms.grace_days,
        tolerance_pct=terms.tolerance_pct,
        escalate_after_broken=escalation_rule(document, stage).broken_promises,
        strategy_version=strategy_version,
        experiment_arm_id=experiment_arm_id,
        created_by=actor.audit_id,
    )
    session.add(promise)
    await session.flush()
    await webhooks.emit(
        session,
        EventKind.PROMISE_CREATED,
        account.partner_id,
        PromiseEvent(
            promise_id=str(promise.id),
            account_id=str(account.id),
            external_ref=account.external_ref,
            amount=str(promise.amount),
            currency=promise.currency,
            due_on=promise.due_date.isoformat(),
            status=promise.status,
        ),
    )
    return promise


async def list_promises(
    session: AsyncSession, principal: Principal, account_id: uuid.UUID
) -> list[Promise]:
    account = await accounts.get_account(session, principal, account_id)
    rows = await session.scalars(
        select(Promise)
        .where(col(Promise.account_id) == account.id)
        .order_by(col(Promise.due_date).desc(), col(Promise.id).desc())
        .limit(200)
    )
    return list(rows.all())


def _matching(
    principal: Principal,
    scope: accounts.AccountScope,
    status: str | None,
    due_from: date | None,
    due_to: date | None,
) -> SelectOfScalar[Promise]:
    query = select(Promise).where(
        col(Promise.account_id).in_(accounts.scoped_account_ids(principal, scope))
    )
    if status is not None:
        query = query.where(col(Promise.status) == status)
    if due_from is not None:
        query = query.where(col(Promise.due_date) >= due_from)
    if due_to is not None:
        query = query.where(col(Promise.due_date) <= due_to)
    return query


async def count_promises(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    *,
    status: str | None,
    due_from: date | None,
    due_to: date | None,
) -> int:
    """How many :func:`search_promises` would list."""
    query = _matching(principal, scope, status, due_from, due_to).subquery()
    return int(await session.scalar(select(func.count()).select_from(query)) or 0)


async def search_promises(
    session: AsyncSession,
    principal: Principal,
    scope: accounts.AccountScope,
    *,
    status: str | None,
    due_from: date | None,
    due_to: date | None,
    limit: int,
    cursor: str | None,
) -> accounts.LabelledPage[Promise]:
    """Promises across the accounts the caller may see, soonest due first (then by id):
    the day's follow-ups are ``status=pending&due_from=<today>&due_to=<today>``."""
    query = _matching(principal, scope, status, due_from, due_to)
    after = decode_day_cursor(cursor)
    if after is not None:
        query = query.where(tuple_(col(Promise.due_date), col(Promise.id)) > tuple_(*after))
    rows = (
        await session.scalars(
            query.order_by(col(Promise.due_date), col(Promise.id)).limit(limit + 1)
        )
    ).all()
    page, next_cursor = split_page(rows, limit, key=lambda p: (p.due_date, p.id))
    return await accounts.labelled_page(session, page, next_cursor, lambda p: p.account_id)
