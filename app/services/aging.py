"""Aging: days past due and delinquency stage for every active account, in set-based SQL.

The SQL fragments here are the one place the stage rules of ``app/domain/stages.py`` are
written in SQL; intake uses them too, so an account's stage moves at once when a push changes
its oldest unpaid due date. ``tests/integration/test_aging.py`` holds SQL and Python to the
same answers.

:func:`age_account` runs the nightly run's own two statements for one account, so a change
that moves days past due by itself (a pause starting or ending) shows at once, with the same
``stage_changed`` history the run writes, not at the next run.

The run first takes the portfolio snapshot of the day before ``as_of``
(:func:`app.services.snapshots.take`): before it ages anything, the accounts stand as at the
end of that day.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app import locks
from app.domain.history import StageChanged
from app.domain.stages import OVERDUE_STAGES, Stage
from app.security import SYSTEM, Principal
from app.services import audit, history, snapshots, webhooks

AGING_ACTOR = "system:aging"


def paused_days_sql(account: str, due: str, as_of: str = ":as_of") -> str:
    """Days in (due, as_of] under a pause of ``account``; pauses of one account never overlap
    (the pause service refuses that), so a plain sum counts each day once."""
    return (
        f"CASE WHEN {account}.has_pauses THEN (SELECT COALESCE(sum(GREATEST(0,"
        f" LEAST(p.ends_on, {as_of}) - GREATEST(p.starts_on, {due} + 1) + 1)), 0)"
        f" FROM account_pause p WHERE p.account_id = {account}.id) ELSE 0 END"
    )


def dpd_sql(due: str, paused: str = "0", as_of: str = ":as_of") -> str:
    """Mirror of ``days_past_due``: nothing unpaid is 0; paused days count only once overdue."""
    return (
        f"CASE WHEN {due} IS NULL THEN 0 WHEN {as_of} - {due} <= 0 THEN {as_of} - {due}"
        f" ELSE {as_of} - {due} - ({paused}) END"
    )


def stage_sql(dpd: str, buckets: str) -> str:
    """Mirror of ``stage_for`` against a ``partner_bucket`` row aliased ``buckets``."""
    whens = " ".join(
        f"WHEN {dpd} >= {buckets}.{stage.value}_from THEN '{stage.value}'"
        for stage in reversed(OVERDUE_STAGES)
    )
    return f"CASE {whens} ELSE '{Stage.CURRENT.value}' END"


_DPD = dpd_sql("a.oldest_unpaid_due_date", paused_days_sql("a", "a.oldest_unpaid_due_date"))
_STAGE = stage_sql(f"({_DPD})", "b")


# Two statements rather than one with a self-join: the transitions are read first (the
# accounts still hold yesterday's stage), then one UPDATE … FROM writes DPD and stage, as a
# hand-written aging statement would. ``which`` narrows both to some accounts (one, for
# age_account); the run ages every active one.
def _transitions(which: str = "") -> str:
    # Each transition is also an account.stage_changed event to the partner (the outbox),
    # in the same statement: one INSERT … SELECT for the whole run.
    return f"""
WITH t AS (
{history.INSERT}
SELECT x.id, x.partner_id, {history.kind_sql(StageChanged)}, :as_of, :now, :actor,
       {history.before_sql(StageChanged, stage="x.stage", dpd="x.dpd")},
       {history.after_sql(StageChanged, stage="x.new_stage", dpd="x.new_dpd")}
FROM (
    SELECT a.id, a.partner_id, a.stage, a.dpd, {_DPD} AS new_dpd, {_STAGE} AS new_stage
    FROM account a
    JOIN partner_bucket b ON b.partner_id = a.partner_id AND b.product_type = a.product_type
    WHERE a.status = 'active' {which}
) x
WHERE x.new_stage <> x.stage
{webhooks.ACCOUNT_EVENT_RETURNING}
), {webhooks.account_event_ctes("t")}
SELECT count(*) FROM t
"""


def _update(which: str = "") -> str:
    return f"""
UPDATE account a
SET dpd = {_DPD}, stage = {_STAGE}, aged_as_of = :as_of, version = a.version + 1,
    updated_at = :now
FROM partner_bucket b
WHERE b.partner_id = a.partner_id AND b.product_type = a.product_type
  AND a.status = 'active' {which}
  AND (a.dpd <> {_DPD} OR a.stage <> {_STAGE})
"""


_TRANSITIONS = _transitions()
_UPDATE = _update()
_ONE = "AND a.id = :account_id"
_ACCOUNT_TRANSITIONS = _transitions(_ONE)
_ACCOUNT_UPDATE = _update(_ONE)

_RECORD_RUN = """
INSERT INTO aging_run (as_of, started_at, finished_at, accounts_aged, stage_changes, runs)
VALUES (:as_of, :started, :finished, :aged, :changes, 1)
ON CONFLICT (as_of) DO UPDATE
SET finished_at = EXCLUDED.finished_at,
    accounts_aged = aging_run.accounts_aged + EXCLUDED.accounts_aged,
    stage_changes = aging_run.stage_changes + EXCLUDED.stage_changes,
    runs = aging_run.runs + 1
"""


async def take_aging_lock(session: AsyncSession) -> None:
    """Held to the end of the transaction; taking it twice in one transaction is fine."""
    # Aging runs one at a time: two at once would record the same transition twice.
    await locks.hold(session, locks.LockClass.AGING)


async def hold_off_aging(session: AsyncSession) -> None:
    """The aging lock, shared, to the end of the transaction: a run waits for this
    transaction's :func:`age_account` (and this one for a run under way), so the two never
    record one transition twice; transactions holding it shared do not wait for each other.
    Take it before any account row lock: the run takes its lock first, then the rows."""
    await locks.hold_shared(session, locks.LockClass.AGING)


@dataclass(frozen=True, slots=True)
class AgingResult:
    as_of: date
    accounts_aged: int
    stage_changes: int


async def age_accounts(
    session: AsyncSession,
    as_of: date,
    *,
    actor: Principal = SYSTEM,
    now: datetime | None = None,
) -> AgingResult:
    """Recompute DPD and stage of every active account for ``as_of``; stage transitions are
    recorded with that date. Running it again for the same date changes nothing. The
    portfolio snapshot of the day before is taken first (one ``INSERT … SELECT``)."""
    started = now or datetime.now(UTC)
    await take_aging_lock(session)
    await snapshots.take(session, as_of - timedelta(days=1), now=started)
    params = {"as_of": as_of, "now": started, "actor": AGING_ACTOR}
    changes = await session.scalar(text(_TRANSITIONS), params) or 0
    aged = getattr(await session.execute(text(_UPDATE), params), "rowcount", 0)
    finished = datetime.now(UTC) if now is None else now
    await session.execute(
        text(_RECORD_RUN),
        {
            "as_of": as_of,
            "started": started,
            "finished": finished,
            "aged": aged,
            "changes": changes,
        },
    )
    result = AgingResult(as_of, int(aged), int(changes))
    await audit.record(
        session,
        actor,
        "aging.run",
        "aging_run",
        as_of.isoformat(),
        after={"accounts_aged": result.accounts_aged, "stage_changes": result.stage_changes},
        now=started,
    )
    return result


async def age_account(
    session: AsyncSession,
    account_id: uuid.UUID,
    as_of: date,
    *,
    actor: Principal,
    now: datetime,
) -> bool:
    """Recompute one active account's DPD and stage for ``as_of`` with the run's own
    statements, recording a stage change as the run does (by ``actor``). The caller holds
    :func:`hold_off_aging`, taken before it locked the account, and has flushed what moved
    DPD; the ORM's copy of the account is stale after this (refresh it). True when DPD or
    stage changed."""
    params = {"as_of": as_of, "now": now, "actor": actor.audit_id, "account_id": account_id}
    await session.execute(text(_ACCOUNT_TRANSITIONS), params)
    changed = getattr(await session.execute(text(_ACCOUNT_UPDATE), params), "rowcount", 0)
    return bool(changed)
