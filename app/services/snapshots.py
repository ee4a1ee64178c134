"""The daily portfolio snapshot ("foto de cartera"): every account as it stood at the end of a
business date, so the reports read two snapshots instead of replaying history.

What a row holds is the account's history read as of its date (``app/services/history.py``):
stage, status, balances, collector and team are the values the event-based reports read for
that day, so a report gives the same figures from either source. ``dpd`` is the aged DPD when
the row is taken from the accounts; a correction re-reads it from the history's stage events
only when the correction moves the stage.

Writing.

- :func:`take` writes one date in one ``INSERT … SELECT`` (re-runs update the rows in
  place). Accounts with no event dated after that date are read from the ``account`` table
  as they stand; the few with later events (a back-dated run, a partner whose business day
  is ahead) are read from their history. The nightly aging takes yesterday's snapshot before
  it ages today (:func:`app.services.aging.age_accounts`): before the run, the accounts stand
  as at the end of yesterday.
- Back-dated corrections. A trigger on ``account_event`` marks every account whose history
  gains an event dated on or before the latest snapshot date (``portfolio_snapshot_stale``,
  with the earliest such date): a payment, reversal or credit movement applied on a partner's
  business date that has already been photographed, a back-dated aging run, an assignment,
  status or balance change, an intake push. :func:`refresh_stale` re-reads the marked
  accounts' rows from that date on, from their history; the nightly run and every
  snapshot-based report call it first, so a report never reads a stale row. The trigger
  catches every writer, ORM or set-based, so none can forget to mark.

Limits, stated. Reading an account's columns as the day's row assumes what the services
keep: the columns say what the history's latest events say. A back-dated aging run moves the
columns to an older date's values while later-dated events keep theirs; the rows that run
touches are re-read from history (marked), but a later night reads the columns again. A
change dated on the day being photographed, committed by a partner west of the aging zone
while the run writes that day, is not marked (the day is not yet visible to its trigger).

Reading. A date is readable from snapshots when its snapshot was taken
(``portfolio_snapshot_day``), or "live": on or after :func:`live_from`, the ``account`` table
itself is that day's snapshot (no event is dated later and every partner's business day has
reached it). A report whose dates are neither falls back on the event-based computation, so
history from before this feature, or a fresh install, gives the same answers as before;
:func:`backfill` writes past dates from history when an operator wants the speed for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import read_from
from app.domain.money import DEFAULT_MINOR_UNIT, MINOR_UNITS
from app.services.history import (
    COLLECTOR,
    DPD,
    FEES,
    INTEREST,
    KINDS_ARRAY,
    PAST_DUE,
    PRINCIPAL,
    STAGE,
    STATUS,
    TEAM,
    TOTAL,
    Fact,
    arrived_on,
    as_of,
)


def minor_factor(currency: str) -> str:
    """10 to the currency's minor unit, as SQL (``app.domain.money.MINOR_UNITS``)."""
    whens = " ".join(f"WHEN '{c}' THEN {10**e}" for c, e in sorted(MINOR_UNITS.items()))
    return f"(CASE {currency} {whens} ELSE {10**DEFAULT_MINOR_UNIT} END)"


def to_minor(amount: str, currency: str) -> str:
    return f"CAST(round(({amount}) * {minor_factor(currency)}) AS bigint)"


def from_minor(amount: str, currency: str) -> str:
    """Minor units back to an amount, as the reports' ``numeric(18, 2)``."""
    return f"CAST(CAST({amount} AS numeric) / {minor_factor(currency)} AS numeric(18, 2))"


_COLUMNS = (
    "snapshot_date, account_id, partner_id, stage, dpd, status, currency, principal, interest,"
    " fees, total, past_due_amount, collector_id, team_id"
)

# The account as it stands (alias ``a``).
_NOW = f"""a.id, a.partner_id, a.stage, a.dpd, a.status, a.currency,
       {to_minor("a.principal", "a.currency")}, {to_minor("a.interest", "a.currency")},
       {to_minor("a.fees", "a.currency")}, {to_minor("a.total", "a.currency")},
       {to_minor("a.past_due_amount", "a.currency")}, a.assigned_collector_id,
       a.assigned_team_id"""


def _amount_on(fact: Fact, day: str, fallback: str) -> str:
    return to_minor(f"CAST({as_of('a.id', fact, day, fallback)} AS numeric)", "a.currency")


def _history_row(day: str) -> str:
    """The account (alias ``a``) as its history reads on ``day``: what the event-based
    reports read."""
    return f"""a.id, a.partner_id, {as_of("a.id", STAGE, day, "a.stage")},
       CAST({as_of("a.id", DPD, day, "a.dpd")} AS integer),
       {as_of("a.id", STATUS, day, "a.status")}, a.currency,
       {_amount_on(PRINCIPAL, day, "a.principal")}, {_amount_on(INTEREST, day, "a.interest")},
       {_amount_on(FEES, day, "a.fees")}, {_amount_on(TOTAL, day, "a.total")},
       {_amount_on(PAST_DUE, day, "a.past_due_amount")},
       CAST({as_of("a.id", COLLECTOR, day, "a.assigned_collector_id")} AS uuid),
       CAST({as_of("a.id", TEAM, day, "a.assigned_team_id")} AS uuid)"""


# A correction keeps the aged DPD unless it moves the stage (then the history's DPD).
_UPSERT = """
ON CONFLICT (snapshot_date, account_id) DO UPDATE
SET partner_id = EXCLUDED.partner_id, stage = EXCLUDED.stage,
    dpd = CASE WHEN portfolio_snapshot.stage = EXCLUDED.stage AND {keep_dpd}
               THEN portfolio_snapshot.dpd ELSE EXCLUDED.dpd END,
    status = EXCLUDED.status, currency = EXCLUDED.currency, principal = EXCLUDED.principal,
    interest = EXCLUDED.interest, fees = EXCLUDED.fees, total = EXCLUDED.total,
    past_due_amount = EXCLUDED.past_due_amount, collector_id = EXCLUDED.collector_id,
    team_id = EXCLUDED.team_id
"""

# Accounts with an event dated after :day: their rows come from history.
_LATER = f"""
SELECT DISTINCT e.account_id FROM unnest({KINDS_ARRAY}) k(kind)
JOIN LATERAL (SELECT x.account_id FROM account_event x
              WHERE x.kind = k.kind AND x.as_of > :day) e ON true
"""  # noqa: S608

_TAKE = f"""
WITH later AS MATERIALIZED ({_LATER})
INSERT INTO portfolio_snapshot ({_COLUMNS})
SELECT :day, {_NOW}
FROM account a JOIN partner p ON p.id = a.partner_id
WHERE a.id NOT IN (SELECT account_id FROM later)
  -- Created before the day ended in every time zone (UTC+14 ends it first): arrived; only
  -- a newer row pays for the exact test in its partner's zone.
  AND (a.created_at < CAST(:day AS timestamp) AT TIME ZONE 'UTC' + interval '10 hours'
       OR CAST((a.created_at AT TIME ZONE p.time_zone) AS date) <= :day
       OR {arrived_on("a", "p.time_zone")} <= :day)
UNION ALL
SELECT :day, {_history_row(":day")}
FROM account a JOIN partner p ON p.id = a.partner_id
WHERE a.id IN (SELECT account_id FROM later) AND {arrived_on("a", "p.time_zone")} <= :day
{_UPSERT.format(keep_dpd="false")}
"""  # noqa: S608

_MARK_DAY = """
INSERT INTO portfolio_snapshot_day (snapshot_date, taken_at, accounts)
VALUES (:day, :now, :accounts)
ON CONFLICT (snapshot_date) DO UPDATE
SET taken_at = EXCLUDED.taken_at, accounts = EXCLUDED.accounts
"""

_REFRESH = f"""
WITH stale AS (DELETE FROM portfolio_snapshot_stale RETURNING account_id, from_day),
pairs AS (
    SELECT s.account_id, d.snapshot_date AS day
    FROM stale s JOIN portfolio_snapshot_day d ON d.snapshot_date >= s.from_day
)
INSERT INTO portfolio_snapshot ({_COLUMNS})
SELECT x.day, {_history_row("x.day")}
FROM pairs x JOIN account a ON a.id = x.account_id JOIN partner p ON p.id = a.partner_id
WHERE {arrived_on("a", "p.time_zone")} <= x.day
{_UPSERT.format(keep_dpd="true")}
"""  # noqa: S608

_LIVE_FROM = f"""
SELECT GREATEST(
    (SELECT max(m.as_of) FROM unnest({KINDS_ARRAY}) k(kind)
     CROSS JOIN LATERAL (SELECT max(e.as_of) AS as_of FROM account_event e
                         WHERE e.kind = k.kind) m),
    (SELECT max(CAST((CAST(:now AS timestamptz) AT TIME ZONE p.time_zone) AS date))
     FROM partner p))
"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class Taken:
    day: date
    accounts: int


async def take(session: AsyncSession, day: date, *, now: datetime | None = None) -> Taken:
    """Write the snapshot of ``day`` (every account arrived by then), then bring the rows of
    earlier dates up to date with :func:`refresh_stale`. One ``INSERT … SELECT``; taking a
    date again rewrites its rows."""
    result = await session.execute(text(_TAKE), {"day": day})
    accounts = int(getattr(result, "rowcount", 0) or 0)
    await session.execute(
        text(_MARK_DAY), {"day": day, "now": now or datetime.now(UTC), "accounts": accounts}
    )
    await refresh_stale(session)
    return Taken(day, accounts)


async def refresh_stale(session: AsyncSession) -> int:
    """Re-read from history the rows of accounts marked stale (a back-dated change), from the
    marked date on; the marks go. The number of rows rewritten.

    Not on the read replica, which takes no writes: a report reads there only while the
    replica holds no marks (:func:`any_stale`, app.deps.get_snapshot_read_session)."""
    if read_from(session) == "replica":
        return 0
    result = await session.execute(text(_REFRESH))
    return int(getattr(result, "rowcount", 0) or 0)


async def any_stale(session: AsyncSession) -> bool:
    """Whether some account's rows wait for :func:`refresh_stale`."""
    return bool(await session.scalar(text("SELECT EXISTS (SELECT FROM portfolio_snapshot_stale)")))


async def backfill(session: AsyncSession, first: date, last: date) -> list[Taken]:
    """Take every date from ``first`` to ``last`` (history before the feature). Each date is
    read as :func:`take` reads it, so the rows equal what history says for that day."""
    taken: list[Taken] = []
    day = first
    while day <= last:
        taken.append(await take(session, day))
        day += timedelta(days=1)
    return taken


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which dates a report may read from snapshots: those taken, and every date from
    ``live_from`` on (the accounts as they stand)."""

    taken: frozenset[date]
    live_from: date | None

    def live(self, day: date) -> bool:
        return self.live_from is not None and day >= self.live_from

    def readable(self, day: date) -> bool:
        return day in self.taken or self.live(day)


async def coverage(
    session: AsyncSession, days: list[date], *, now: datetime | None = None
) -> Coverage:
    """The :class:`Coverage` of ``days``."""
    taken = (
        await session.scalars(
            text(
                "SELECT snapshot_date FROM portfolio_snapshot_day WHERE snapshot_date = ANY(:days)"
            ),
            {"days": days},
        )
    ).all()
    live_from = await session.scalar(text(_LIVE_FROM), {"now": now or datetime.now(UTC)})
    return Coverage(frozenset(taken), live_from)
