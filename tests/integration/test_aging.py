"""Aging in SQL (``app.services.aging``) against the stage rules in Python
(``app.domain.stages``): the same DPD and stage for every account, once per date, with pauses,
and the ``cartera jobs age`` command against a database of its own."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import col, select
from typer.testing import CliRunner

from app import migrations
from app.cli import cli
from app.config import get_settings
from app.domain.stages import DEFAULT_EDGES, BucketEdges, Pause, days_past_due, stage_for
from app.models.account import Account, AccountEvent, AccountPause, AgingRun
from app.models.audit import AuditEvent
from app.models.debtor import Debtor
from app.models.partner import Partner
from app.services import snapshots
from app.services.aging import AGING_ACTOR, age_accounts
from tests.factories import make_account, make_debtor, make_partner

AS_OF = date(2026, 1, 31)


def edges_table(edges: BucketEdges) -> dict[str, Any]:
    return {"installment": edges.as_dict()}


def random_edges(rng: random.Random) -> BucketEdges:
    cuts = sorted(rng.sample(range(1, 400), 5))
    return BucketEdges(*cuts)


EDGE_SETS: list[BucketEdges] = [
    DEFAULT_EDGES,
    BucketEdges(1, 10, 20, 30, 40),
    BucketEdges(5, 15, 45, 100, 400),
    BucketEdges(1, 2, 3, 4, 5),
    BucketEdges(31, 91, 181, 365, 3650),
    *(random_edges(random.Random(seed)) for seed in range(4)),
]


def dpd_cases(edges: BucketEdges) -> list[int | None]:
    """None (nothing unpaid), due dates ahead, today, and each edge with its neighbours."""
    cases: set[int] = {-30, -1, 0, 1, 2, 4000}
    for edge in edges.as_tuple():
        cases.update({edge - 1, edge, edge + 1})
    return [None, *sorted(cases)]


async def an_account(
    session: AsyncSession,
    partner: Partner,
    debtor: Debtor,
    due: date | None,
    *,
    dpd: int = 0,
    stage: str = "current",
    **more: Any,
) -> Account:
    return await make_account(
        session,
        partner,
        debtor,
        oldest_unpaid_due_date=due,
        dpd=dpd,
        stage=stage,
        aged_as_of=AS_OF - timedelta(days=1),
        **more,
    )


async def fresh(session: AsyncSession, account: Account) -> Account:
    await session.refresh(account)
    return account


async def event_count(session: AsyncSession, *where: Any) -> int:
    query = select(func.count()).select_from(AccountEvent)
    for condition in where:
        query = query.where(condition)
    return int(await session.scalar(query) or 0)


async def stage_events(session: AsyncSession, account: Account) -> list[AccountEvent]:
    found = await session.scalars(
        select(AccountEvent)
        .where(
            col(AccountEvent.account_id) == account.id,
            col(AccountEvent.kind) == "stage_changed",
        )
        .order_by(col(AccountEvent.seq))
    )
    return list(found)


# ---------------------------------------------------------------------------------------
# SQL and Python agree


async def test_sql_and_python_agree_on_dpd_and_stage_at_every_edge(session):
    debtor = await make_debtor(session)
    expected: dict[Any, tuple[int, str]] = {}
    accounts: list[Account] = []
    for edges in EDGE_SETS:
        partner = await make_partner(session, bucket_table=edges_table(edges))
        for dpd in dpd_cases(edges):
            due = None if dpd is None else AS_OF - timedelta(days=dpd)
            account = await an_account(session, partner, debtor, due)
            python_dpd = days_past_due(AS_OF, due)
            expected[account.id] = (python_dpd, stage_for(python_dpd, edges).value)
            accounts.append(account)
        # Another product type of the same partner keeps the default edges.
        revolving = await an_account(
            session, partner, debtor, AS_OF - timedelta(days=30), product_type="revolving"
        )
        expected[revolving.id] = (30, stage_for(30, DEFAULT_EDGES).value)
        accounts.append(revolving)

    result = await age_accounts(session, AS_OF)

    for account in accounts:
        await fresh(session, account)
        assert (account.dpd, account.stage) == expected[account.id], (
            account.oldest_unpaid_due_date,
            account.product_type,
        )
    changed = [a for a in accounts if expected[a.id] != (0, "current")]
    assert result.accounts_aged == len(changed)
    assert result.stage_changes == len([a for a in changed if expected[a.id][1] != "current"])
    for account in changed:
        assert account.aged_as_of == AS_OF
        assert account.version == 2


async def test_stage_is_monotone_in_dpd_in_sql(session):
    """Walk one account day by day through a year: the stage never goes back."""
    partner = await make_partner(session, bucket_table=edges_table(BucketEdges(3, 9, 27, 81, 243)))
    account = await an_account(session, partner, await make_debtor(session), AS_OF)
    order = ["current", "early", "mid", "late", "nonaccrual", "chargeoff"]
    seen: list[str] = []
    for day in range(0, 260, 3):
        await age_accounts(session, AS_OF + timedelta(days=day))
        await fresh(session, account)
        assert account.dpd == day
        assert account.stage == stage_for(day, BucketEdges(3, 9, 27, 81, 243)).value
        seen.append(account.stage)
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    assert seen[-1] == "chargeoff"


# ---------------------------------------------------------------------------------------
# Once per date


async def test_aging_the_same_date_twice_changes_nothing_the_second_time(session):
    partner = await make_partner(session)
    debtor = await make_debtor(session)
    accounts = [
        await an_account(session, partner, debtor, AS_OF - timedelta(days=dpd))
        for dpd in (5, 45, 75, 120, 200)
    ]
    first = await age_accounts(session, AS_OF)
    assert (first.accounts_aged, first.stage_changes) == (5, 5)
    events = await event_count(session)
    versions = [(await fresh(session, a)).version for a in accounts]

    second = await age_accounts(session, AS_OF)

    assert (second.accounts_aged, second.stage_changes) == (0, 0)
    assert await event_count(session) == events
    assert [(await fresh(session, a)).version for a in accounts] == versions
    run = await session.get(AgingRun, AS_OF, populate_existing=True)
    assert run is not None
    assert (run.runs, run.accounts_aged, run.stage_changes) == (2, 5, 5)


async def test_the_next_day_moves_29_dpd_to_30_and_records_the_transition(session):
    partner = await make_partner(session)
    account = await an_account(
        session,
        partner,
        await make_debtor(session),
        AS_OF - timedelta(days=29),
        dpd=29,
        stage="early",
    )
    quiet = await age_accounts(session, AS_OF)
    assert (quiet.accounts_aged, quiet.stage_changes) == (0, 0)
    assert await stage_events(session, account) == []

    next_day = AS_OF + timedelta(days=1)
    moved = await age_accounts(session, next_day)

    assert (moved.accounts_aged, moved.stage_changes) == (1, 1)
    await fresh(session, account)
    assert (account.dpd, account.stage, account.aged_as_of) == (30, "mid", next_day)
    [event] = await stage_events(session, account)
    assert event.before == {"stage": "early", "dpd": 29}
    assert event.after == {"stage": "mid", "dpd": 30}
    assert event.as_of == next_day
    assert event.actor_id == AGING_ACTOR
    assert event.partner_id == partner.id


async def test_a_new_dpd_in_the_same_stage_is_not_a_transition(session):
    partner = await make_partner(session)
    account = await an_account(
        session,
        partner,
        await make_debtor(session),
        AS_OF - timedelta(days=40),
        dpd=39,
        stage="mid",
    )
    result = await age_accounts(session, AS_OF)
    assert (result.accounts_aged, result.stage_changes) == (1, 0)
    assert (await fresh(session, account)).dpd == 40
    assert await stage_events(session, account) == []


# ---------------------------------------------------------------------------------------
# Pauses


PAUSE_CASES: list[tuple[int, list[tuple[int, int]]]] = [
    # (days since the due date, pauses as (first, last) days before AS_OF)
    (60, [(40, 31)]),  # inside the overdue period
    (60, [(70, 50)]),  # begins before the due date
    (60, [(5, -10)]),  # runs past the as-of date
    (60, [(90, 61)]),  # over before the due date
    (60, [(-1, -20)]),  # not begun yet
    (60, [(50, 41), (20, 11)]),  # two apart
    (60, [(59, 0)]),  # the whole overdue period
    (60, [(60, 60)]),  # the due date itself (not overdue yet that day)
    (31, [(1, 1)]),  # one day, drops 31 DPD back to 30
    (-5, [(10, -10)]),  # not due yet
]


@pytest.mark.parametrize(("since", "pauses"), PAUSE_CASES)
async def test_paused_days_are_subtracted_as_in_python(session, since, pauses):
    partner = await make_partner(session)
    due = AS_OF - timedelta(days=since)
    account = await an_account(session, partner, await make_debtor(session), due, has_pauses=True)
    spans = [Pause(AS_OF - timedelta(days=a), AS_OF - timedelta(days=b)) for a, b in pauses]
    for span in spans:
        session.add(
            AccountPause(
                account_id=account.id,
                partner_id=partner.id,
                reason="dispute",
                starts_on=span.starts_on,
                ends_on=span.ends_on,
                created_by="test",
            )
        )
    await session.flush()

    await age_accounts(session, AS_OF)

    await fresh(session, account)
    expected = days_past_due(AS_OF, due, spans)
    assert account.dpd == expected
    assert account.stage == stage_for(expected).value


async def test_a_pause_holds_dpd_while_the_days_go_by(session):
    partner = await make_partner(session)
    due = AS_OF - timedelta(days=10)
    account = await an_account(session, partner, await make_debtor(session), due, has_pauses=True)
    pause = Pause(AS_OF + timedelta(days=1), AS_OF + timedelta(days=20))
    session.add(
        AccountPause(
            account_id=account.id,
            partner_id=partner.id,
            reason="hardship",
            starts_on=pause.starts_on,
            ends_on=pause.ends_on,
            created_by="test",
        )
    )
    await session.flush()
    for day in range(0, 30):
        as_of = AS_OF + timedelta(days=day)
        await age_accounts(session, as_of)
        await fresh(session, account)
        assert account.dpd == days_past_due(as_of, due, [pause])
    assert account.dpd == 10 + 29 - 20


# ---------------------------------------------------------------------------------------
# What aging leaves alone, and what it records


@pytest.mark.parametrize("status", ["recalled", "closed"])
async def test_inactive_accounts_are_not_aged(session, status):
    partner = await make_partner(session)
    debtor = await make_debtor(session)
    inactive = await an_account(session, partner, debtor, AS_OF - timedelta(days=40), status=status)
    active = await an_account(session, partner, debtor, AS_OF - timedelta(days=40))

    result = await age_accounts(session, AS_OF)

    assert (result.accounts_aged, result.stage_changes) == (1, 1)
    await fresh(session, inactive)
    assert (inactive.dpd, inactive.stage, inactive.version) == (0, "current", 1)
    assert inactive.aged_as_of == AS_OF - timedelta(days=1)
    assert await stage_events(session, inactive) == []
    assert (await fresh(session, active)).stage == "mid"


async def test_the_run_is_recorded_and_audited(session):
    partner = await make_partner(session)
    debtor = await make_debtor(session)
    for dpd in (10, 35, 35):
        await an_account(session, partner, debtor, AS_OF - timedelta(days=dpd))
    await an_account(session, partner, debtor, None)
    moment = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)

    result = await age_accounts(session, AS_OF, now=moment)

    run = await session.get(AgingRun, AS_OF)
    assert run is not None
    assert (run.accounts_aged, run.stage_changes, run.runs) == (3, 3, 1)
    assert run.started_at == moment
    audit = await session.scalar(
        select(AuditEvent).where(
            col(AuditEvent.action) == "aging.run",
            col(AuditEvent.entity_id) == AS_OF.isoformat(),
        )
    )
    assert audit is not None
    assert audit.entity_type == "aging_run"
    assert audit.actor_id == "system"
    assert audit.after == {"accounts_aged": 3, "stage_changes": 3}
    assert (result.accounts_aged, result.stage_changes) == (3, 3)
    assert await event_count(session, col(AccountEvent.as_of) == AS_OF) == 3


# ---------------------------------------------------------------------------------------
# The command


runner = CliRunner()


def run_sql(url: str, statement: str, **params: Any) -> list[Any]:
    async def go() -> list[Any]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture
def cli_database(database_server, monkeypatch):
    """A migrated database of its own, named by CARTERA_DATABASE_URL for the command."""
    url = database_server.create_database("cartera_aging")
    migrations.upgrade(url)
    monkeypatch.setenv("CARTERA_DATABASE_URL", url)
    monkeypatch.setenv("CARTERA_ENV", "test")  # an unset environment is production
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    database_server.drop_database(url)


def seed_accounts(url: str, days: list[int]) -> list[str]:
    """Committed accounts whose oldest unpaid due date is ``days`` before AS_OF."""

    async def go() -> list[str]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                partner = await make_partner(session)
                debtor = await make_debtor(session)
                ids = []
                for dpd in days:
                    account = await an_account(
                        session, partner, debtor, AS_OF - timedelta(days=dpd)
                    )
                    ids.append(str(account.id))
                await session.commit()
                return ids
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_cartera_jobs_age_ages_a_database(cli_database):
    ids = seed_accounts(cli_database, [29, 30, 95])

    result = runner.invoke(cli, ["jobs", "age", "--as-of", "2026-01-31"])

    assert result.exit_code == 0, result.output
    assert "2026-01-31" in result.output
    rows = run_sql(
        cli_database, "SELECT id::text, dpd, stage, aged_as_of FROM account ORDER BY dpd"
    )
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (ids[0], 29, "early", AS_OF),
        (ids[1], 30, "mid", AS_OF),
        (ids[2], 95, "nonaccrual", AS_OF),
    ]
    [run] = run_sql(cli_database, "SELECT as_of, accounts_aged, stage_changes, runs FROM aging_run")
    assert tuple(run) == (AS_OF, 3, 3, 1)

    again = runner.invoke(cli, ["jobs", "age", "--as-of", "2026-01-31"])
    assert again.exit_code == 0, again.output
    [run] = run_sql(cli_database, "SELECT accounts_aged, stage_changes, runs FROM aging_run")
    assert tuple(run) == (3, 3, 2)
    [(events,)] = run_sql(
        cli_database, "SELECT count(*) FROM account_event WHERE kind = 'stage_changed'"
    )
    assert events == 3


def test_cartera_jobs_age_refuses_a_malformed_date(cli_database):
    result = runner.invoke(cli, ["jobs", "age", "--as-of", "31/01/2026"])
    assert result.exit_code == 2
    assert run_sql(cli_database, "SELECT * FROM aging_run") == []


async def test_the_run_photographs_the_day_before_and_folds_in_back_dated_changes(session):
    partner = await make_partner(session)
    debtor = await make_debtor(session)
    late = await make_account(
        session, partner, debtor, dpd=45, aged_as_of=AS_OF - timedelta(days=1),
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    current = await make_account(
        session, partner, debtor, dpd=0, aged_as_of=AS_OF - timedelta(days=1),
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    before = {a.id: a.stage for a in (late, current)}

    await age_accounts(session, AS_OF)

    yesterday = AS_OF - timedelta(days=1)
    rows = {
        r.account_id: r
        for r in (
            await session.execute(
                text("SELECT * FROM portfolio_snapshot WHERE snapshot_date = :d"), {"d": yesterday}
            )
        ).all()
    }
    # Taken before aging moved anything: yesterday's stage, not today's.
    assert {k: rows[k].stage for k in before} == before
    assert rows[late.id].total == 115000  # 1,150.00 MXN in centavos
    assert rows[late.id].dpd == 45
    day = (
        await session.execute(
            text("SELECT accounts FROM portfolio_snapshot_day WHERE snapshot_date = :d"),
            {"d": yesterday},
        )
    ).scalar_one()
    assert day == len(rows) >= 2

    # A change dated yesterday, written today (a back-dated recall): the row follows history.
    session.add(
        AccountEvent(
            account_id=current.id, partner_id=partner.id, kind="status_changed",
            as_of=yesterday, actor_id="test", before={"status": "active"},
            after={"status": "recalled"},
        )
    )  # fmt: skip
    await session.execute(
        text("UPDATE account SET status = 'recalled' WHERE id = :id"), {"id": current.id}
    )
    await session.flush()
    marked = await session.scalar(
        text("SELECT from_day FROM portfolio_snapshot_stale WHERE account_id = :id"),
        {"id": current.id},
    )
    assert marked is not None and marked < yesterday  # its first status event: every day
    # What a report does before reading (the next night's run too): fold the marks in.
    await snapshots.refresh_stale(session)
    status = await session.scalar(
        text("SELECT status FROM portfolio_snapshot WHERE snapshot_date = :d AND account_id = :id"),
        {"d": yesterday, "id": current.id},
    )
    assert status == "recalled"
    left = await session.scalar(text("SELECT count(*) FROM portfolio_snapshot_stale"))
    assert left == 0
