"""KPI reports: aging, roll rates, recovery and agents, each one set-based statement.

Visibility. Aging, roll rates and recovery start from :func:`readable_accounts`: all accounts
for admins, managers and auditors, a partner system's own portfolio, a team lead's teams'
accounts, and for a collector the accounts assigned to them now (their own figures, never
a 403). The agents report has a row per collector: a collector gets their own rows, a team
lead their own and their teams' members', a partner system every collector's work on its
own portfolio only, admins, managers and auditors everything.

History. "Stage on day D" is read from the account's history (``account_event``): the
``stage`` after the last ``created``/``stage_changed`` event dated (``as_of``) on or before
D; if there is none, the ``stage`` before the first one dated after D; if the account has no
such event at all, its stage now. Balances (``total``, from ``created``/``balance_changed``),
status (``status_changed``) and the assigned collector (``assigned``) are read the same way.
An account "arrived" on the date of its ``created`` event (else its ``created_at`` in the
partner's time zone).

Snapshots. Roll rates and recovery read the daily portfolio snapshots
(:mod:`app.services.snapshots`, the history above as at the end of each day) when the
period's first day has been photographed and its last day has been too, or is "live" (the
accounts as they stand); the payments between them are read as before, each with its
account's snapshot of the day before it. The agents report credits a payment to the
collector of the account's snapshot of that day. Every snapshot-based read folds in the
back-dated changes first (:func:`snapshots.refresh_stale`). A date's rows, and an account's
row of a date, are read from the snapshot's primary key alone (it includes the columns the
reports read); the million accounts of a date are joined to ``account`` once and grouped by
partner × currency × stage as they are read, the few accounts or payments a snapshot does
not cover being collected by id in the same pass and read afterwards. Where no snapshot covers a day
(history from before the feature, a fresh install, a missed night), the report reads history
as it always did: one grouped pass over ``account_event`` (:func:`_history_columns`) for
whole portfolios, a look-up per account (:func:`_as_of`) for a few rows. The figures are the
same either way (``tests/integration/test_report_snapshots.py``); ``from_snapshots=False``
forces history (the tests and the benchmark compare the two).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, bindparam, false, or_, text, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import CTE
from sqlmodel import col, select

from app.domain.contact_check import RIGHT_PARTY_CODES
from app.domain.reports import check_period, ratio, roll_matrix
from app.domain.roles import Role
from app.domain.stages import Stage
from app.models.account import Account
from app.models.partner import Partner
from app.models.user import Team, TeamMember, User
from app.schemas.reports import AgentRow, AgingRow, RecoveryRow, RollRateRow
from app.security import Principal
from app.services import snapshots
from app.services.accounts import SEES_ALL_ACCOUNTS, readable_accounts
from app.services.history import (
    _ARRIVALS,
    STAGE,
    STATUS,
    TOTAL,
    _history,
    _history_value,
    arrived_on,
    collector_on,
    stage_on,
)
from app.services.history import as_of as _as_of

# ---------------------------------------------------------------------------------------
# SQL fragments


def mop_sql(dpd: str) -> str:
    """Mirror of :func:`app.domain.stages.mop_code` (a test holds the two together)."""
    return (
        f"CASE WHEN {dpd} >= 180 THEN '07' WHEN {dpd} >= 120 THEN '06'"
        f" WHEN {dpd} >= 90 THEN '05' WHEN {dpd} >= 60 THEN '04' WHEN {dpd} >= 30 THEN '03'"
        f" WHEN {dpd} >= 1 THEN '02' ELSE '01' END"
    )


_STAGE_RANK = "array_position(ARRAY[" + ", ".join(f"'{s.value}'" for s in Stage) + "]::text[], {})"
_RPC_CODES = ", ".join(f"'{c}'" for c in sorted(RIGHT_PARTY_CODES))


def _readable(principal: Principal, partner_id: uuid.UUID | None, *extra: Any) -> Any:
    """The accounts the principal may see (one partner's if asked) with the columns every
    report reads, and ``extra``."""
    query: Any = readable_accounts(principal).with_only_columns(
        col(Account.id),
        col(Account.partner_id),
        col(Account.currency),
        col(Account.stage),
        col(Account.total),
        col(Account.status),
        col(Account.created_at),
        *extra,
    )
    if partner_id is not None:
        query = query.where(col(Account.partner_id) == partner_id)
    return query


def _visible(principal: Principal, partner_id: uuid.UUID | None) -> CTE:
    """The accounts the principal may see (one partner's if asked) as the ``visible`` CTE."""
    query = _readable(
        principal,
        partner_id,
        col(Account.dpd),
        col(Account.past_due_amount),
        col(Partner.time_zone),
    ).join(Partner, col(Partner.id) == col(Account.partner_id))
    return query.cte("visible")


def _visible_accounts(principal: Principal, partner_id: uuid.UUID | None) -> CTE:
    """The snapshot readings' ``visible``: the same accounts, the columns they read, and
    never materialised: the planner reads ``account`` where it is used (a million rows
    written to a work table and read back cost more than a second scan of a key range)."""
    return _readable(principal, partner_id).cte("visible").prefix_with("NOT MATERIALIZED")


def _sees_everything(principal: Principal, partner_id: uuid.UUID | None) -> bool:
    """Whether ``visible`` is every account: then a payment need not be joined to it."""
    return principal.role in SEES_ALL_ACCOUNTS and partner_id is None


def _dates(**values: date) -> list[Any]:
    return [bindparam(name, value, type_=Date) for name, value in values.items()]


# ---------------------------------------------------------------------------------------
# Aging

_AGING = f"""
SELECT v.partner_id, v.stage, {mop_sql("v.dpd")} AS mop_code, v.currency,
       count(*) AS accounts, sum(v.total) AS total_balance,
       sum(v.past_due_amount) AS past_due_balance
FROM visible v
WHERE v.status = 'active'
GROUP BY v.partner_id, v.stage, 3, v.currency
ORDER BY v.partner_id, {_STAGE_RANK.format("v.stage")}, 3, v.currency
"""  # noqa: S608


async def aging(
    session: AsyncSession, principal: Principal, *, partner_id: uuid.UUID | None = None
) -> list[AgingRow]:
    """Active accounts now, by partner × stage × MOP code × currency: count, balance (total)
    and past-due balance. One statement."""
    statement = text(_AGING).columns().add_cte(_visible(principal, partner_id))
    rows = (await session.execute(statement)).mappings().all()
    return [AgingRow.model_validate(dict(r)) for r in rows]


# ---------------------------------------------------------------------------------------
# Roll rates

_ROLL = f"""
SELECT r.* FROM (
WITH {_ARRIVALS},
cohort AS (SELECT * FROM portfolio WHERE arrived <= :start),
{
    _history(
        ("stage_start", STAGE, ":start"),
        ("stage_end", STAGE, ":end"),
        ("status_start", STATUS, ":start"),
    )
}
SELECT x.partner_id, x.from_stage, x.to_stage, count(*) AS accounts
FROM (
    SELECT c.partner_id,
           {_history_value("stage_start", "c.stage")} AS from_stage,
           {_history_value("stage_end", "c.stage")} AS to_stage
    FROM cohort c LEFT JOIN h ON h.account_id = c.id
    WHERE {_history_value("status_start", "c.status")} = 'active'
) x
GROUP BY x.partner_id, x.from_stage, x.to_stage
) r
ORDER BY r.partner_id
"""  # noqa: S608


def _end_source(live: bool) -> tuple[str, str]:
    """The join and the expression giving an account's snapshot on ``:end`` (alias ``s1``),
    or the account as it stands (``v``) when that day is live."""
    if live:
        return "", "v"
    return "JOIN portfolio_snapshot s1 ON s1.snapshot_date = :end AND s1.account_id = v.id", "s1"


def _roll_from_snapshots(live_end: bool) -> str:
    """Roll rates from the snapshots of ``:start`` and ``:end``: the snapshot of ``:start``
    holds exactly the accounts arrived by then, with their status and stage that day."""
    join_end, end = _end_source(live_end)
    return f"""
SELECT v.partner_id, s0.stage AS from_stage, {end}.stage AS to_stage, count(*) AS accounts
FROM visible v
JOIN portfolio_snapshot s0 ON s0.snapshot_date = :start AND s0.account_id = v.id
{join_end}
WHERE s0.status = 'active'
GROUP BY 1, 2, 3
ORDER BY 1
"""  # noqa: S608


async def roll_rates(
    session: AsyncSession,
    principal: Principal,
    *,
    start: date,
    end: date,
    partner_id: uuid.UUID | None = None,
    from_snapshots: bool = True,
) -> list[RollRateRow]:
    """The stage transition matrix between ``start`` and ``end``: the accounts assigned and
    active on ``start`` (arrived on or before it, status active then), by their stage on
    ``start`` and their stage on ``end``. One statement; the matrix is built from its
    cells. Read from the snapshots of ``start`` and ``end`` when both can be read
    (:mod:`app.services.snapshots`), else from history, with the same answer."""
    check_period(start, end)
    cover = await snapshots.coverage(session, [start, end])
    if from_snapshots and start in cover.taken and cover.readable(end):
        await snapshots.refresh_stale(session)
        sql = _roll_from_snapshots(live_end=end not in cover.taken)
        visible = _visible_accounts(principal, partner_id)
    else:
        sql = _ROLL
        visible = _visible(principal, partner_id)
    dates = [d for d in _dates(start=start, end=end) if f":{d.key}" in sql]
    statement = text(sql).bindparams(*dates).columns().add_cte(visible)
    cells = (await session.execute(statement)).all()
    return [
        RollRateRow(
            partner_id=row.partner_id,
            from_stage=row.from_stage,
            accounts=row.accounts,
            counts=row.counts,
            rates=row.rates,
            worse=row.worse,
            same=row.same,
            better=row.better,
            roll_forward_rate=row.roll_forward_rate,
            cure_rate=row.cure_rate,
        )
        for row in roll_matrix((c[0], c[1], c[2], c[3]) for c in cells)
    ]


# ---------------------------------------------------------------------------------------
# Recovery


def _recovery_rows(cohort: str, payments: str) -> str:
    """Recovery's rows, whichever source they are read from (history, snapshots): the
    cohort's figures by partner × currency × stage (``accounts``, ``assigned_balance``,
    ``past_due_at_start``, ``cured``) beside the period's payments by the stage each counts
    under (``payments``, ``gross_amount``, ``reversed_amount``)."""
    return f"""
SELECT partner_id, stage, currency,
       COALESCE(pm.payments, 0) AS payments,
       COALESCE(pm.gross_amount, 0.00) AS gross_amount,
       COALESCE(pm.reversed_amount, 0.00) AS reversed_amount,
       COALESCE(c.accounts, 0) AS accounts,
       COALESCE(c.assigned_balance, 0.00) AS assigned_balance,
       COALESCE(c.past_due_at_start, 0) AS past_due_at_start,
       COALESCE(c.cured, 0) AS cured
FROM ({cohort}) c
FULL JOIN ({payments}) pm USING (partner_id, currency, stage)
) r
ORDER BY r.partner_id, {_STAGE_RANK.format("r.stage")}, r.currency
"""  # noqa: S608


def _payments_by_stage(payment_stage: str, payment_join: str) -> str:
    """The period's payments by partner × currency × the stage each counts under
    (``payment_stage``, over ``p``, the payment, and what ``payment_join`` adds)."""
    return f"""
    SELECT p.partner_id, p.currency,
           {payment_stage} AS stage,
           count(*) AS payments, sum(p.amount) AS gross_amount,
           COALESCE(sum(p.amount) FILTER (WHERE p.status = 'reversed'), 0.00) AS reversed_amount
    FROM payment p
{payment_join}    WHERE p.paid_on BETWEEN :start AND :end
    GROUP BY 1, 2, 3
"""  # noqa: S608


def _recovery_by_stage(accounts: str, payment_stage: str) -> str:
    """Recovery read from history. ``accounts`` is the FROM item ``y`` (with its WHERE) of
    the cohort's active accounts on their first day: ``partner_id``, ``currency``,
    ``was_there``, ``stage``, ``balance``, ``end_stage``; ``payment_stage`` the stage a
    payment counts under, over ``p`` (the payment) and ``v`` (its visible account)."""
    cohort = f"""
    SELECT y.partner_id, y.currency, y.stage, count(*) AS accounts,
           sum(y.balance) AS assigned_balance,
           count(*) FILTER (WHERE y.was_there AND y.stage <> 'current') AS past_due_at_start,
           count(*) FILTER (WHERE y.was_there AND y.stage <> 'current'
                            AND y.end_stage = 'current') AS cured
    FROM {accounts}
    GROUP BY y.partner_id, y.currency, y.stage
"""  # noqa: S608
    payments = _payments_by_stage(payment_stage, "    JOIN visible v ON v.id = p.account_id\n")
    return _recovery_rows(cohort, payments)


# Each active account of the cohort on its first day in the period, read from history.
_HISTORY_FIRST_DAY = f"""(
        SELECT c.partner_id, c.currency, c.arrived <= :start AS was_there,
               {_history_value("stage_first", "c.stage")} AS stage,
               CAST({_history_value("total_first", "c.total")} AS numeric(18, 2)) AS balance,
               {_history_value("stage_end", "c.stage")} AS end_stage
        FROM cohort c LEFT JOIN h ON h.account_id = c.id
        WHERE {_history_value("status_first", "c.status")} = 'active'
    ) y"""  # noqa: S608

_RECOVERY = f"""
SELECT r.* FROM (
WITH {_ARRIVALS},
cohort AS (
    SELECT p.*, GREATEST(:start, p.arrived) AS first_day FROM portfolio p WHERE p.arrived <= :end
),
{
    _history(
        ("stage_first", STAGE, "c.first_day"),
        ("total_first", TOTAL, "c.first_day"),
        ("status_first", STATUS, "c.first_day"),
        ("stage_end", STAGE, ":end"),
    )
}
{_recovery_by_stage(_HISTORY_FIRST_DAY, stage_on("v.id", "p.paid_on - 1", "v.stage"))}
"""  # noqa: S608


def _recovery_from_snapshots(live_end: bool, sees_everything: bool) -> str:
    """Recovery from the snapshots. The cohort is the snapshot of ``:end`` (the accounts
    arrived by then; the accounts as they stand when that day is live); those in the
    snapshot of ``:start`` were there, and are counted in one pass over that day's rows
    grouped by partner × currency × stage (read from the primary key's included columns:
    no table row is visited). The others arrived since: few, collected by id in the same
    pass (``arrived``), each then read on its arrival day (its snapshot, else its history).
    A payment's stage is the snapshot of the day before it (else live, else history).
    ``sees_everything``: the principal's ``visible`` is every account, so payments are not
    joined to it."""
    join_end, end = _end_source(live_end)
    tz = "(SELECT pt.time_zone FROM partner pt WHERE pt.id = a.partner_id)"
    day = arrived_on("a", tz)
    amount = snapshots.from_minor
    # The balance: the minor units summed per snapshot currency, then turned into an
    # amount once (exact: every row's amount is a whole number of minor units).
    cohort = f"""
    SELECT t.partner_id, t.currency, t.stage, t.accounts,
           {amount("t.minor", "t.minor_currency")} AS assigned_balance,
           CASE WHEN t.stage <> 'current' THEN t.accounts ELSE 0 END AS past_due_at_start,
           CASE WHEN t.stage <> 'current' THEN t.cured ELSE 0 END AS cured
    FROM there t WHERE t.stage IS NOT NULL AND t.accounts > 0
    UNION ALL
    SELECT a.partner_id, a.currency, n.stage, 1, n.balance, 0, 0
    FROM there t CROSS JOIN unnest(t.arrived) x(id)
    JOIN account a ON a.id = x.id
    CROSS JOIN LATERAL (SELECT {day} AS day) d
    LEFT JOIN portfolio_snapshot sa ON sa.snapshot_date = d.day AND sa.account_id = a.id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN sa.account_id IS NOT NULL THEN sa.stage
                    ELSE {stage_on("a.id", "d.day", "a.stage")} END AS stage,
               CASE WHEN sa.account_id IS NOT NULL THEN {amount("sa.total", "sa.currency")}
                    ELSE CAST({_as_of("a.id", TOTAL, "d.day", "a.total")} AS numeric(18, 2))
                    END AS balance,
               CASE WHEN sa.account_id IS NOT NULL THEN sa.status
                    ELSE {_as_of("a.id", STATUS, "d.day", "a.status")} END AS status
    ) n
    WHERE n.status = 'active'
"""  # noqa: S608
    cohort = f"""
    SELECT c.partner_id, c.currency, c.stage, CAST(sum(c.accounts) AS bigint) AS accounts,
           sum(c.assigned_balance) AS assigned_balance,
           CAST(sum(c.past_due_at_start) AS bigint) AS past_due_at_start,
           CAST(sum(c.cured) AS bigint) AS cured
    FROM ({cohort}) c
    GROUP BY c.partner_id, c.currency, c.stage
"""  # noqa: S608
    # A payment's stage: the snapshot of the day before it (read in one pass, grouped by
    # it); the few payments with no such snapshot are collected by id (``unread``) and
    # read live (that day is live) or from history.
    now = "(SELECT a.stage FROM account a WHERE a.id = p.account_id)"
    visible_join = "" if sees_everything else "JOIN visible v ON v.id = p.account_id"
    payments = f"""
    SELECT x.partner_id, x.currency, x.stage, CAST(sum(x.payments) AS bigint) AS payments,
           sum(x.gross_amount) AS gross_amount,
           COALESCE(sum(x.reversed_amount), 0.00) AS reversed_amount
    FROM (
        SELECT d.partner_id, d.currency, d.stage, d.payments, d.gross_amount,
               d.reversed_amount
        FROM paid d WHERE d.stage IS NOT NULL
        UNION ALL
        SELECT p.partner_id, p.currency,
               CASE WHEN CAST(:live_from AS date) <= p.paid_on - 1 THEN {now}
                    ELSE {stage_on("p.account_id", "p.paid_on - 1", now)} END,
               1, p.amount, CASE WHEN p.status = 'reversed' THEN p.amount END
        FROM paid d CROSS JOIN unnest(d.unread) u(id) JOIN payment p ON p.id = u.id
    ) x
    GROUP BY x.partner_id, x.currency, x.stage
"""  # noqa: S608
    return f"""
SELECT r.* FROM (
WITH there AS (
    SELECT v.partner_id, v.currency, s0.stage, s0.currency AS minor_currency,
           count(*) FILTER (WHERE s0.status = 'active') AS accounts,
           sum(s0.total) FILTER (WHERE s0.status = 'active') AS minor,
           count(*) FILTER (WHERE s0.status = 'active' AND {end}.stage = 'current') AS cured,
           array_agg(v.id) FILTER (WHERE s0.account_id IS NULL) AS arrived
    FROM visible v
    {join_end}
    LEFT JOIN portfolio_snapshot s0 ON s0.snapshot_date = :start AND s0.account_id = v.id
    GROUP BY v.partner_id, v.currency, s0.stage, s0.currency
),
paid AS (
    SELECT p.partner_id, p.currency, s.stage, count(*) AS payments,
           sum(p.amount) AS gross_amount,
           sum(p.amount) FILTER (WHERE p.status = 'reversed') AS reversed_amount,
           array_agg(p.id) FILTER (WHERE s.account_id IS NULL) AS unread
    FROM payment p
    {visible_join}
    LEFT JOIN portfolio_snapshot s
           ON s.snapshot_date = p.paid_on - 1 AND s.account_id = p.account_id
    WHERE p.paid_on BETWEEN :start AND :end
    GROUP BY p.partner_id, p.currency, s.stage
)
{_recovery_rows(cohort, payments)}
"""  # noqa: S608


async def recovery(
    session: AsyncSession,
    principal: Principal,
    *,
    start: date,
    end: date,
    partner_id: uuid.UUID | None = None,
    from_snapshots: bool = True,
) -> list[RecoveryRow]:
    """Recovered amounts against the assigned balance, and cures, by partner × stage.

    - Payments dated (``paid_on``) ``start``…``end``: ``gross_amount`` all of them,
      ``reversed_amount`` those reversed since (whenever), ``recovered`` the difference. A
      payment's stage is the account's stage at the end of the day before ``paid_on``: the
      stage it was paid in, before the payment itself moved it.
    - ``accounts``/``assigned_balance``: accounts assigned during the period (arrived on or
      before ``end``, active on ``max(start, arrival)``) with their balance (``total``) on
      that day, grouped by their stage on that day.
    - Cure: of the accounts already there on ``start`` and past due then (stage not
      ``current``), those whose stage on ``end`` is ``current`` (DPD ≤ 0).

    One statement. Read from the snapshots of ``start`` and ``end`` when both can be read
    (:mod:`app.services.snapshots`), else from history, with the same answer."""
    check_period(start, end)
    cover = await snapshots.coverage(session, [start, end])
    statement: Any
    if from_snapshots and start in cover.taken and cover.readable(end):
        await snapshots.refresh_stale(session)
        sql = _recovery_from_snapshots(
            live_end=end not in cover.taken,
            sees_everything=_sees_everything(principal, partner_id),
        )
        statement = text(sql).bindparams(
            *_dates(start=start, end=end),
            bindparam("live_from", cover.live_from, type_=Date),
        )
        visible = _visible_accounts(principal, partner_id)
    else:
        statement = text(_RECOVERY).bindparams(*_dates(start=start, end=end))
        visible = _visible(principal, partner_id)
    statement = statement.columns().add_cte(visible)
    rows = (await session.execute(statement)).mappings().all()
    result: list[RecoveryRow] = []
    for r in rows:
        recovered = Decimal(r["gross_amount"]) - Decimal(r["reversed_amount"])
        result.append(
            RecoveryRow(
                **r,
                recovered=recovered,
                recovery_rate=ratio(recovered, r["assigned_balance"]),
                cure_rate=ratio(r["cured"], r["past_due_at_start"]),
            )
        )
    return result


# ---------------------------------------------------------------------------------------
# Agents


def _agents(principal: Principal) -> CTE:
    """The staff whose rows the principal may read, as the ``agents`` CTE."""
    query = select(col(User.id), col(User.username))
    if principal.role in SEES_ALL_ACCOUNTS or principal.role is Role.PARTNER:
        condition: Any = true()
    elif principal.role is Role.COLLECTOR and principal.user_id is not None:
        condition = col(User.id) == principal.user_id
    elif principal.role is Role.TEAM_LEAD and principal.user_id is not None:
        led = select(col(Team.id)).where(col(Team.lead_id) == principal.user_id)
        members = select(col(TeamMember.user_id)).where(col(TeamMember.team_id).in_(led))
        condition = or_(col(User.id) == principal.user_id, col(User.id).in_(members))
    else:
        condition = false()
    return query.where(condition).cte("agents")


def _agents_sql(partner_filter: bool, from_snapshots: bool) -> str:
    def only(alias: str) -> str:
        return f"AND {alias}.partner_id = :partner_id" if partner_filter else ""

    # The account's collector now, read only when neither a snapshot nor history says.
    now = "CAST((SELECT a.assigned_collector_id FROM account a WHERE a.id = p.account_id) AS text)"
    history = collector_on("p.account_id", "p.paid_on", now)
    # The snapshot of the payment's day when there is one; the account as it stands when that
    # day is live; else its history (a day before the snapshots, or before it arrived).
    # A look-up by key per payment (LIMIT keeps it one: not planned as a hash of a day's
    # million rows).
    snapshot = (
        "LEFT JOIN LATERAL (SELECT s.account_id, s.collector_id FROM portfolio_snapshot s"
        " WHERE s.snapshot_date = p.paid_on AND s.account_id = p.account_id LIMIT 1) s ON true"
    )
    collector = f"""CASE WHEN s.account_id IS NOT NULL THEN CAST(s.collector_id AS text)
        WHEN CAST(:live_from AS date) <= p.paid_on THEN {now}
        ELSE {history} END"""
    if not from_snapshots:
        snapshot, collector = "", history
    # Summed per collector, day and partner first (a few thousand rows), then named and
    # filtered to the collectors the principal may read.
    return f"""
SELECT s.collector_id, u.username, s.day, s.partner_id, pt.currency, s.attempts,
       s.right_party_contacts, s.promises, s.promises_resolved, s.promises_kept,
       s.amount_collected, s.plans_agreed
FROM (
SELECT g.collector_id, g.day, g.partner_id,
       sum(g.attempts) AS attempts, sum(g.rpcs) AS right_party_contacts,
       sum(g.promises) AS promises, sum(g.resolved) AS promises_resolved,
       sum(g.kept) AS promises_kept, sum(g.collected) AS amount_collected,
       sum(g.plans) AS plans_agreed
FROM (
    -- Interactions are the bulk (hundreds of thousands a week): counted per collector, day
    -- and partner here, so the union below holds a few thousand rows.
    SELECT i.collector_id, CAST((i.started_at AT TIME ZONE ip.time_zone) AS date) AS day,
           i.partner_id, count(*) AS attempts,
           count(*) FILTER (WHERE i.result_code IN ({_RPC_CODES})) AS rpcs,
           count(*) FILTER (WHERE pr.status <> 'cancelled') AS promises,
           count(*) FILTER (WHERE pr.status IN ('kept', 'partially_kept', 'broken'))
               AS resolved,
           count(*) FILTER (WHERE pr.status = 'kept') AS kept,
           0.00 AS collected, 0 AS plans
    FROM interaction i
    JOIN partner ip ON ip.id = i.partner_id
    LEFT JOIN promise pr ON pr.interaction_id = i.id
    WHERE i.collector_id IS NOT NULL AND i.started_at >= :low AND i.started_at < :high
      -- Corrections are few: their ids, read from the unique index on ``amends_id``,
      -- make one hashed list instead of a probe (or a scan) per interaction.
      AND i.id NOT IN (SELECT c.amends_id FROM interaction c WHERE c.amends_id IS NOT NULL)
      {only("i")}
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT CAST(x.collector AS uuid), p.paid_on, p.partner_id, 0, 0, 0, 0, 0, p.amount, 0
    FROM payment p
    {snapshot}
    CROSS JOIN LATERAL (SELECT {collector} AS collector) x
    WHERE p.status = 'applied' AND p.paid_on BETWEEN :start AND :end
      AND x.collector IS NOT NULL {only("p")}
    UNION ALL
    SELECT pl.proposed_by,
           CAST((COALESCE(pl.decided_at, pl.created_at) AT TIME ZONE lp.time_zone) AS date),
           pl.partner_id, 0, 0, 0, 0, 0, 0.00, 1
    FROM payment_plan pl
    JOIN partner lp ON lp.id = pl.partner_id
    WHERE pl.status IN ('active', 'completed', 'broken')
      AND COALESCE(pl.decided_at, pl.created_at) >= :low
      AND COALESCE(pl.decided_at, pl.created_at) < :high {only("pl")}
) g
WHERE g.day BETWEEN :start AND :end
GROUP BY g.collector_id, g.day, g.partner_id
) s
CROSS JOIN LATERAL (SELECT u.username FROM agents u WHERE u.id = s.collector_id LIMIT 1) u
JOIN partner pt ON pt.id = s.partner_id
ORDER BY u.username, s.collector_id, s.day, s.partner_id
"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class _Scope:
    partner_id: uuid.UUID | None
    empty: bool


def _agents_scope(principal: Principal, partner_id: uuid.UUID | None) -> _Scope:
    if principal.role is not Role.PARTNER:
        return _Scope(partner_id, empty=False)
    own = principal.partner_id
    return _Scope(own, empty=own is None or (partner_id is not None and partner_id != own))


async def agents(
    session: AsyncSession,
    principal: Principal,
    *,
    start: date,
    end: date,
    partner_id: uuid.UUID | None = None,
    from_snapshots: bool = True,
) -> list[AgentRow]:
    """Per collector, day and partner (the partner's business day, in its time zone):

    - ``attempts``: interactions the collector recorded (one that was corrected counts
      once, as its correction); ``right_party_contacts``: those with a RPC* result code;
    - ``promises``: promises taken in those interactions, cancelled ones left out;
      ``promises_resolved``/``promises_kept``: of them, resolved (kept, partially kept or
      broken) and kept (in full);
    - ``amount_collected``: payments dated that day, not reversed, on accounts whose
      assigned collector at the end of that day (history) was the collector;
    - ``plans_agreed``: plans the collector proposed that became active that day (approval
      time, or proposal time when within the collector's own limits) and are active,
      completed or broken now.

    One statement."""
    check_period(start, end)
    scope = _agents_scope(principal, partner_id)
    if scope.empty:
        return []
    # Local days in any time zone fall inside this UTC window; the exact day is filtered
    # after the conversion to the partner's zone.
    low = datetime.combine(start - timedelta(days=1), time(), UTC)
    high = datetime.combine(end + timedelta(days=2), time(), UTC)
    statement = text(_agents_sql(scope.partner_id is not None, from_snapshots)).bindparams(
        *_dates(start=start, end=end), low=low, high=high
    )
    if from_snapshots:
        cover = await snapshots.coverage(session, [])
        await snapshots.refresh_stale(session)
        statement = statement.bindparams(bindparam("live_from", cover.live_from, type_=Date))
    if scope.partner_id is not None:
        statement = statement.bindparams(partner_id=scope.partner_id)
    query = statement.columns().add_cte(_agents(principal))
    rows = (await session.execute(query)).mappings().all()
    return [
        AgentRow(
            **r,
            rpc_rate=ratio(r["right_party_contacts"], r["attempts"]),
            promise_rate=ratio(r["promises"], r["right_party_contacts"]),
            promises_kept_rate=ratio(r["promises_kept"], r["promises_resolved"]),
        )
        for r in rows
    ]
