"""One owner for the account history's JSON: for every kind, the row the ORM path builds
(``history.row``) and the row a set-based ``INSERT … SELECT`` writes (``history.INSERT`` with
``before_sql`` / ``after_sql``) hold the same JSON for the same values, on real PostgreSQL;
and no module but app/services/history.py writes ``account_event`` rows itself (nor any but
app/services/escalations.py opens an escalation)."""

from __future__ import annotations

import ast
import dataclasses
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.domain.history import (
    OMITTED,
    Arrival,
    Assigned,
    Assignee,
    BalanceChanged,
    Balances,
    Created,
    Delinquency,
    HistoryEvent,
    HistoryKind,
    Paused,
    PauseEnd,
    PauseEnded,
    PauseTaken,
    StageChanged,
    StatusAfter,
    StatusBefore,
    StatusChanged,
)
from app.services import history
from tests.factories import make_account, make_partner

COLLECTOR = uuid.UUID("0b7e6a52-1111-4000-8000-000000000001")
TEAM = uuid.UUID("0b7e6a52-1111-4000-8000-000000000002")
PUSH = uuid.UUID("0b7e6a52-1111-4000-8000-000000000003")
PAUSE = uuid.UUID("0b7e6a52-1111-4000-8000-000000000004")

# Amounts as a computation may leave them (no decimals, one) next to the columns' two.
SAMPLES: dict[str, HistoryEvent] = {
    "created": Created(Arrival(PUSH, "early", 12, Decimal("1150.5"))),
    "balance_changed": BalanceChanged(
        Balances(
            Decimal("1000.00"),
            Decimal("120.5"),
            Decimal("0"),
            Decimal("1120.50"),
            Decimal("300"),
            date(2026, 9, 1),
            None,
            None,
        ),
        Balances(
            Decimal("1000.00"),
            Decimal("150.00"),
            Decimal("0.00"),
            Decimal("1150.00"),
            Decimal("0.00"),
            None,
            date(2026, 12, 1),
            Decimal("25.5"),
        ),
    ),
    "stage_changed": StageChanged(Delinquency("mid", 45), Delinquency("nonaccrual", 95)),
    "assigned": Assigned(Assignee(None, None), Assignee(COLLECTOR, TEAM)),
    "assigned-away": Assigned(Assignee(COLLECTOR, TEAM), Assignee(None, TEAM)),
    # A recall: to nobody, from whoever had it.
    "assigned-recall": Assigned(Assignee(COLLECTOR, TEAM), Assignee(None, None)),
    "status_changed": StatusChanged(StatusBefore("active"), StatusAfter("closed")),
    "status_changed-recall": StatusChanged(
        StatusBefore("active", COLLECTOR, None), StatusAfter("recalled", reason=None)
    ),
    "status_changed-recall-reason": StatusChanged(
        StatusBefore("active", None, TEAM), StatusAfter("recalled", reason="fraude")
    ),
    "status_changed-push": StatusChanged(
        StatusBefore("recalled"), StatusAfter("active", assignment_id=PUSH)
    ),
    "paused": Paused(PauseTaken(PAUSE, "dispute", date(2026, 12, 1), date(2026, 12, 31))),
    "pause_ended": PauseEnded(
        PauseEnd(PAUSE, date(2026, 12, 31)), PauseEnd(PAUSE, date(2026, 12, 5))
    ),
}

# How a writer's source rows might type the values: amounts as plain ``numeric`` (any scale),
# so the builder's own formatting is what makes them equal.
_SOURCE_TYPES = {Decimal: "numeric", int: "integer", date: "date", uuid.UUID: "uuid", str: "text"}


def _source(side: object | None, prefix: str) -> tuple[dict[str, str], list[str], dict[str, Any]]:
    """For each recorded field of ``side``: the expression naming it, the typed column of a
    one-row source, and its bound value."""
    names: dict[str, str] = {}
    columns: list[str] = []
    values: dict[str, Any] = {}
    if side is None:
        return names, columns, values
    for f in dataclasses.fields(side):  # type: ignore[arg-type]
        value = getattr(side, f.name)
        if value is OMITTED:
            continue
        column = f"{prefix}_{f.name}"
        sql_type = "text" if value is None else _SOURCE_TYPES[type(value)]
        names[f.name] = f"s.{column}"
        columns.append(f"CAST(:{column} AS {sql_type}) AS {column}")
        values[column] = value
    return names, columns, values


def test_every_kind_has_a_sample():
    assert {type(event).KIND for event in SAMPLES.values()} == set(HistoryKind)


@pytest.mark.parametrize("name", sorted(SAMPLES), ids=str)
async def test_the_orm_and_the_set_based_writers_store_the_same_json(session, name):
    event = SAMPLES[name]
    partner = await make_partner(session)
    account = await make_account(session, partner)
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    orm = history.row(account, event, as_of=date(2026, 12, 6), occurred_at=now, actor_id="orm")
    session.add(orm)
    await session.flush()

    before, before_columns, before_values = _source(event.before, "b")
    after, after_columns, after_values = _source(event.after, "a")
    cls = type(event)
    statement = f"""
{history.INSERT}
SELECT :account, :partner, {history.kind_sql(cls)}, :as_of, :now, 'sql',
       {history.before_sql(cls, **before)}, {history.after_sql(cls, **after)}
FROM (SELECT {", ".join(before_columns + after_columns)}) s
RETURNING seq"""
    sql_seq = await session.scalar(
        text(statement),
        {"account": account.id, "partner": partner.id, "as_of": date(2026, 12, 6), "now": now}
        | before_values
        | after_values,
    )

    stored = (
        await session.execute(
            text(
                "SELECT seq, kind, before, after FROM account_event"
                " WHERE seq = ANY(:seqs) ORDER BY seq"
            ),
            {"seqs": [orm.seq, sql_seq]},
        )
    ).all()
    assert len(stored) == 2
    (_, orm_kind, orm_before, orm_after), (_, sql_kind, sql_before, sql_after) = stored
    assert orm_kind == sql_kind == cls.KIND.value
    assert orm_before == sql_before
    assert orm_after == sql_after
    # What the ORM row held before the round trip is what was stored.
    assert (orm.before, orm.after) == (orm_before, orm_after)


class TestTheSqlBuilderRefusesOtherKeys:
    def test_a_missing_key(self):
        with pytest.raises(TypeError, match="dpd"):
            history.after_sql(StageChanged, stage="x.stage")

    def test_a_key_of_another_kind(self):
        with pytest.raises(TypeError, match="reason"):
            history.before_sql(StageChanged, stage="x.stage", dpd="x.dpd", reason="'x'")

    def test_a_side_the_kind_does_not_record(self):
        assert history.before_sql(Created) == "NULL"
        with pytest.raises(TypeError):
            history.before_sql(Created, stage="x.stage")


# --- One owner ----------------------------------------------------------------------------

APP = Path(history.__file__).resolve().parents[1]


def _sources() -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(APP)), path.read_text(encoding="utf-8"))
        for path in sorted(APP.rglob("*.py"))
    ]


def _constructs(source: str, model: str) -> bool:
    """Whether the module calls ``model(...)`` or SQLAlchemy's ``insert(model)``."""

    def named(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) and node.id == model) or (
            isinstance(node, ast.Attribute) and node.attr == model
        )

    return any(
        isinstance(node, ast.Call)
        and (
            named(node.func)
            or (
                isinstance(node.func, ast.Name | ast.Attribute)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "insert"
                and any(named(arg) for arg in node.args)
            )
        )
        for node in ast.walk(ast.parse(source))
    )


@pytest.mark.parametrize(
    ("table", "model", "owner"),
    [
        ("account_event", "AccountEvent", "services/history.py"),
        ("escalation", "Escalation", "services/escalations.py"),
    ],
    ids=["account_event", "escalation"],
)
def test_one_module_writes_the_table(table, model, owner):
    raw_insert = re.compile(rf"INSERT\s+INTO\s+{table}\b", re.IGNORECASE)
    writers = sorted(
        name
        for name, source in _sources()
        if raw_insert.search(source) or _constructs(source, model)
    )
    assert writers == [owner]


def test_no_module_but_the_owner_spells_a_history_payload():
    # A writer names keys through history.before_sql/after_sql; a jsonb_build_object with a
    # history key in another module would be a second, unchecked definition.
    spelled = re.compile(
        r"jsonb_build_object\(\s*'(stage|assigned_collector_id|pause_id|principal)'"
    )
    offenders = sorted(name for name, source in _sources() if spelled.search(source))
    assert offenders == []
