"""An account's history (``account_event``): the one place that writes its rows and the one
definition the reports, the experiments, the commissions and the portfolio snapshots read it
by. The kinds and their JSON keys are app/domain/history.py's.

Writing. The ORM path builds a row with :func:`row`; a set-based ``INSERT … SELECT`` starts
with :data:`INSERT` and writes each side with :func:`before_sql` / :func:`after_sql`, which
check the names against the kind's classes and cast each value as the ORM path formats it:
the same JSON either way.

Reading. "The value on day D" is the value after the last event carrying it dated
(``as_of``) on or before D; if there is none, the value before the first such event dated
after D; if the account has no such event at all, its value now. An account "arrived" on the
date of its ``created`` event (else its ``created_at`` in the partner's time zone).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from app.domain.history import (
    HistoryEvent,
    HistoryKind,
    Key,
    carrying,
    keys,
    payload,
    records,
    sides,
)
from app.models.account import Account, AccountEvent

# --- Writing ----------------------------------------------------------------------------

# The head of every set-based write: the SELECT that follows gives these columns in order.
INSERT = (
    "INSERT INTO account_event (account_id, partner_id, kind, as_of, occurred_at, actor_id,"
    " before, after)"
)


def row(
    account: Account, event: HistoryEvent, *, as_of: date, occurred_at: datetime, actor_id: str
) -> AccountEvent:
    """The history row recording ``event`` on ``account`` (the caller adds it)."""
    return AccountEvent(
        account_id=account.id,
        partner_id=account.partner_id,
        kind=event.KIND.value,
        as_of=as_of,
        occurred_at=occurred_at,
        actor_id=actor_id,
        before=payload(event.before),
        after=payload(event.after),
    )


def kind_sql(event: type[HistoryEvent]) -> str:
    """The kind of ``event`` as an SQL literal."""
    return f"'{event.KIND.value}'"


# The SQL type each value is cast to; money then goes to text, as the ORM path writes it.
_SQL_TYPES: dict[type, str] = {
    Decimal: "numeric(18, 2)",
    int: "integer",
    date: "date",
    uuid.UUID: "uuid",
    str: "text",
}


def _value_sql(key: Key, expression: str) -> str:
    typed = f"CAST({expression} AS {_SQL_TYPES[key.type]})"
    return f"CAST({typed} AS text)" if key.type is Decimal else typed


def _side_sql(event: type[HistoryEvent], side: str, values: Mapping[str, str]) -> str:
    before, after = sides(event.KIND)
    shape = before if side == "before" else after
    if shape is None:
        if values:
            raise TypeError(f"{event.KIND.value} records nothing {side}")
        return "NULL"
    names = {key.name for key in keys(shape)}
    required = {key.name for key in keys(shape) if not key.optional}
    if not required <= set(values) <= names:
        raise TypeError(
            f"{event.KIND.value} {side}: needs {sorted(required)}, may have {sorted(names)},"
            f" got {sorted(values)}"
        )
    pairs = ", ".join(
        f"'{key.name}', {_value_sql(key, values[key.name])}"
        for key in keys(shape)
        if key.name in values
    )
    return f"jsonb_build_object({pairs})"


def before_sql(event: type[HistoryEvent], **values: str) -> str:
    """The ``before`` of ``event`` from one SQL expression per key (an optional key left out
    is absent); ``NULL`` for a kind with nothing before."""
    return _side_sql(event, "before", values)


def after_sql(event: type[HistoryEvent], **values: str) -> str:
    """The ``after`` of ``event``, as :func:`before_sql`."""
    return _side_sql(event, "after", values)


# --- Reading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fact:
    """A value of the account read from its history: the JSON key and the event kinds that
    carry it."""

    key: str
    kinds: tuple[str, ...]

    def json(self, side: str) -> str:
        """The value in ``side`` (``e.after``, ``s.before`` …) as jsonb."""
        return f"{side} -> '{self.key}'"

    def text(self, side: str) -> str:
        """The value in ``side`` as text."""
        return f"{side} ->> '{self.key}'"

    @property
    def kinds_sql(self) -> str:
        return _sql_list(self.kinds)


def fact(key: str, *kinds: HistoryKind) -> Fact:
    """``key`` as recorded by ``kinds``, by default every kind that always records it."""
    for kind in kinds:
        if not records(kind, key):
            raise KeyError(f"{kind.value} does not record {key!r}")
    return Fact(key, tuple(k.value for k in kinds or carrying(key)))


STAGE = fact("stage")
DPD = fact("dpd")
TOTAL = fact("total")
STATUS = fact("status")
COLLECTOR = fact("assigned_collector_id")
TEAM = fact("assigned_team_id")
PRINCIPAL = fact("principal")
INTEREST = fact("interest")
FEES = fact("fees")
PAST_DUE = fact("past_due_amount")
# Why a recall took the account back (only a recall records it).
REASON = fact("reason", HistoryKind.STATUS_CHANGED)
# Every kind (one index range each finds the latest date or the accounts changed after one).
KINDS_ARRAY = "ARRAY[" + ", ".join(f"'{k.value}'" for k in HistoryKind) + "]::text[]"
_CREATED = f"'{HistoryKind.CREATED.value}'"


def _sql_list(kinds: tuple[str, ...]) -> str:
    return ", ".join(f"'{k}'" for k in kinds)


def as_of(account: str, fact: Fact, day: str, fallback: str) -> str:
    """The value of ``fact`` in the account's history on ``day`` (as text; NULL when the
    history says it was null), falling back on ``fallback`` when no event carries it. One
    look-up per account: for the few rows of a period's payments; whole portfolios use
    :func:`_history_columns`."""
    after, before = fact.json("e.after"), fact.json("e.before")
    return f"""(COALESCE(
    (SELECT {after} FROM account_event e
     WHERE e.account_id = {account} AND e.kind IN ({fact.kinds_sql})
       AND {after} IS NOT NULL AND e.as_of <= {day}
     ORDER BY e.as_of DESC, e.seq DESC LIMIT 1),
    (SELECT {before} FROM account_event e
     WHERE e.account_id = {account} AND e.kind IN ({fact.kinds_sql})
       AND {before} IS NOT NULL AND e.as_of > {day}
     ORDER BY e.as_of, e.seq LIMIT 1),
    to_jsonb({fallback})) #>> '{{}}')"""  # noqa: S608


def stage_on(account: str, day: str, fallback: str) -> str:
    return as_of(account, STAGE, day, fallback)


def collector_on(account: str, day: str, fallback: str) -> str:
    return as_of(account, COLLECTOR, day, fallback)


def _history_columns(name: str, fact: Fact, day: str) -> str:
    """Aggregates over one account's events (``e``, grouped by account) giving what
    :func:`as_of` looks up per account: the values after the events on or before ``day``,
    oldest first (``{name}_after``: the last one counts), and the value before the first
    event after it (``{name}_before``). Every aggregate orders by ``(as_of, seq)``, so
    PostgreSQL sorts the events once instead of once per account and aggregate."""
    carries = f"e.kind IN ({fact.kinds_sql})"
    after, before = fact.json("e.after"), fact.json("e.before")
    return (
        f"array_agg({after} ORDER BY e.as_of, e.seq) FILTER (WHERE"
        f" {carries} AND {after} IS NOT NULL AND e.as_of <= {day})"
        f" AS {name}_after,"
        f" (array_agg({before} ORDER BY e.as_of, e.seq) FILTER (WHERE"
        f" {carries} AND {before} IS NOT NULL AND e.as_of > {day}))[1]"
        f" AS {name}_before"
    )


def _history(*columns: tuple[str, Fact, str]) -> str:
    """The ``h`` CTE: per account of ``cohort``, the :func:`_history_columns` asked for, in
    one grouped pass over their events."""
    aggregates = ",\n           ".join(_history_columns(n, f, d) for n, f, d in columns)
    kinds = _sql_list(tuple(sorted({kind for _, fact, _ in columns for kind in fact.kinds})))
    return f"""h AS (
    SELECT e.account_id,
           {aggregates}
    FROM account_event e JOIN cohort c ON c.id = e.account_id
    WHERE e.kind IN ({kinds})
    GROUP BY e.account_id
)"""  # noqa: S608


def _history_value(name: str, fallback: str) -> str:
    """The value :func:`_history_columns` found (as text), else ``fallback`` (now)."""
    after = f"h.{name}_after[cardinality(h.{name}_after)]"
    return f"(COALESCE({after}, h.{name}_before, to_jsonb({fallback})) #>> '{{}}')"


# Each visible account with the day it arrived (``arrived``): the portfolio as of a period.
_ARRIVALS = f"""
arrival AS (
    SELECT e.account_id, min(e.as_of) AS arrived
    FROM account_event e JOIN visible v ON v.id = e.account_id
    WHERE e.kind = {_CREATED}
    GROUP BY e.account_id
),
portfolio AS (
    SELECT v.*, COALESCE(a.arrived, CAST((v.created_at AT TIME ZONE v.time_zone) AS date))
               AS arrived
    FROM visible v LEFT JOIN arrival a ON a.account_id = v.id
)"""  # noqa: S608


def arrived_on(account: str, time_zone: str) -> str:
    """The day ``account`` (an ``account`` row alias) arrived, as a SQL date, looked up for
    that one account; ``time_zone`` is its partner's."""
    created = (
        f"SELECT min(e.as_of) FROM account_event e"  # noqa: S608
        f" WHERE e.account_id = {account}.id AND e.kind = {_CREATED}"
    )
    return f"COALESCE(({created}), CAST(({account}.created_at AT TIME ZONE {time_zone}) AS date))"
