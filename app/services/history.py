"""An account's history read as of a day: the one definition the reports, the experiments
and the portfolio snapshots share.

"The value on day D" is the value after the last event carrying it dated (``as_of``) on or
before D; if there is none, the value before the first such event dated after D; if the
account has no such event at all, its value now. An account "arrived" on the date of its
``created`` event (else its ``created_at`` in the partner's time zone).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Fact:
    """A value of the account read from its history: the JSON key and the event kinds that
    carry it."""

    key: str
    kinds: tuple[str, ...]


_STAGE = _Fact("stage", ("created", "stage_changed"))
_TOTAL = _Fact("total", ("created", "balance_changed"))
_STATUS = _Fact("status", ("status_changed",))
_ASSIGNED = _Fact("assigned_collector_id", ("assigned",))
_TEAM = _Fact("assigned_team_id", ("assigned",))
_DPD = _Fact("dpd", ("created", "stage_changed"))
# The balance components: ``created`` carries the total only, ``balance_changed`` all of them.
_BALANCE_KINDS = ("created", "balance_changed")
_PRINCIPAL = _Fact("principal", _BALANCE_KINDS)
_INTEREST = _Fact("interest", _BALANCE_KINDS)
_FEES = _Fact("fees", _BALANCE_KINDS)
_PAST_DUE = _Fact("past_due_amount", _BALANCE_KINDS)


def _sql_list(kinds: tuple[str, ...]) -> str:
    return ", ".join(f"'{k}'" for k in kinds)


def as_of(account: str, fact: _Fact, day: str, fallback: str) -> str:
    """The value of ``fact`` in the account's history on ``day`` (as text; NULL when the
    history says it was null), falling back on ``fallback`` when no event carries it. One
    look-up per account: for the few rows of a period's payments; whole portfolios use
    :func:`_history_columns`."""
    in_kinds = _sql_list(fact.kinds)
    key = fact.key
    return f"""(COALESCE(
    (SELECT e.after -> '{key}' FROM account_event e
     WHERE e.account_id = {account} AND e.kind IN ({in_kinds})
       AND e.after -> '{key}' IS NOT NULL AND e.as_of <= {day}
     ORDER BY e.as_of DESC, e.seq DESC LIMIT 1),
    (SELECT e.before -> '{key}' FROM account_event e
     WHERE e.account_id = {account} AND e.kind IN ({in_kinds})
       AND e.before -> '{key}' IS NOT NULL AND e.as_of > {day}
     ORDER BY e.as_of, e.seq LIMIT 1),
    to_jsonb({fallback})) #>> '{{}}')"""  # noqa: S608


def stage_on(account: str, day: str, fallback: str) -> str:
    return as_of(account, _STAGE, day, fallback)


def collector_on(account: str, day: str, fallback: str) -> str:
    return as_of(account, _ASSIGNED, day, fallback)


def _history_columns(name: str, fact: _Fact, day: str) -> str:
    """Aggregates over one account's events (``e``, grouped by account) giving what
    :func:`as_of` looks up per account: the values after the events on or before ``day``,
    oldest first (``{name}_after``: the last one counts), and the value before the first
    event after it (``{name}_before``). Every aggregate orders by ``(as_of, seq)``, so
    PostgreSQL sorts the events once instead of once per account and aggregate."""
    carries = f"e.kind IN ({_sql_list(fact.kinds)})"
    key = fact.key
    return (
        f"array_agg(e.after -> '{key}' ORDER BY e.as_of, e.seq) FILTER (WHERE"
        f" {carries} AND e.after -> '{key}' IS NOT NULL AND e.as_of <= {day})"
        f" AS {name}_after,"
        f" (array_agg(e.before -> '{key}' ORDER BY e.as_of, e.seq) FILTER (WHERE"
        f" {carries} AND e.before -> '{key}' IS NOT NULL AND e.as_of > {day}))[1]"
        f" AS {name}_before"
    )


def _history(*columns: tuple[str, _Fact, str]) -> str:
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
_ARRIVALS = """
arrival AS (
    SELECT e.account_id, min(e.as_of) AS arrived
    FROM account_event e JOIN visible v ON v.id = e.account_id
    WHERE e.kind = 'created'
    GROUP BY e.account_id
),
portfolio AS (
    SELECT v.*, COALESCE(a.arrived, CAST((v.created_at AT TIME ZONE v.time_zone) AS date))
               AS arrived
    FROM visible v LEFT JOIN arrival a ON a.account_id = v.id
)"""


def arrived_on(account: str, time_zone: str) -> str:
    """The day ``account`` (an ``account`` row alias) arrived, as a SQL date, looked up for
    that one account; ``time_zone`` is its partner's."""
    created = (
        f"SELECT min(e.as_of) FROM account_event e"  # noqa: S608
        f" WHERE e.account_id = {account}.id AND e.kind = 'created'"
    )
    return f"COALESCE(({created}), CAST(({account}.created_at AT TIME ZONE {time_zone}) AS date))"
