"""Reports from the daily portfolio snapshots give the figures the event-based reports give.

Random histories (hypothesis) on real PostgreSQL: accounts arriving on random days (or long
before, with no ``created`` event), stage, balance, status and assignment changes written as
the services write them (the event, and the account's columns moved to match), snapshots
taken on some nights only (:func:`snapshots.take`, as the nightly aging does), payments
(some reversed) on random days, then back-dated corrections: events dated before the last
snapshot, written after it. Roll rates, recovery and agents are then read both ways, as a
manager, as one partner and as one collector, over random periods (some reaching today, read
"live"), and must be equal; every snapshot row must also equal what history says of its day.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from app.domain.roles import Role
from app.models.account import Account, AccountEvent
from app.models.payment import Payment
from app.models.user import User
from app.security import Principal
from app.services import reports, snapshots
from app.services.history import (
    COLLECTOR,
    PAST_DUE,
    STAGE,
    STATUS,
    TOTAL,
    as_of,
)
from tests.factories import business_today, make_account, make_partner

DAYS = 12
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)
STAGES = ["current", "early", "mid", "late", "nonaccrual", "chargeoff"]
STATUSES = ["active", "active", "recalled", "closed"]

# Which examples read snapshots (a period both of whose ends are covered): the property
# must have held on some, not only on the fallback.
READ_FROM_SNAPSHOTS: list[int] = []
READ_LIVE: list[int] = []  # of them, those whose end was read live


@dataclass(frozen=True)
class Step:
    day: int
    kind: str  # stage | balance | status | assign
    value: int


@dataclass(frozen=True)
class AccountSpec:
    partner: int
    arrival: int | None  # None: arrived long ago, no ``created`` event
    stage: int
    total: int  # minor units
    steps: tuple[Step, ...]


steps = st.builds(
    Step,
    day=st.integers(0, DAYS),
    kind=st.sampled_from(["stage", "balance", "status", "assign"]),
    value=st.integers(0, 1_000_000),
)
accounts = st.builds(
    AccountSpec,
    partner=st.integers(0, 1),
    arrival=st.one_of(st.none(), st.integers(0, DAYS)),
    stage=st.integers(0, len(STAGES) - 1),
    total=st.integers(0, 5_000_000),
    steps=st.lists(steps, max_size=5).map(lambda s: tuple(sorted(s, key=lambda x: x.day))),
)
histories = st.fixed_dictionaries(
    {
        "accounts": st.lists(accounts, min_size=1, max_size=5),
        # The nights a snapshot was taken (of the day that ended): never today's, some missed.
        "nights": st.sets(st.integers(0, DAYS - 1), min_size=DAYS // 2),
        "payments": st.lists(
            st.tuples(
                st.integers(0, 4), st.integers(0, DAYS), st.integers(1, 90_000), st.booleans()
            ),
            max_size=6,
        ),
        "corrections": st.lists(st.tuples(st.integers(0, 4), steps), max_size=4),
        "periods": st.lists(
            st.tuples(st.integers(0, DAYS), st.one_of(st.just(DAYS), st.integers(0, DAYS))).map(
                sorted
            ),
            min_size=1,
            max_size=3,
        ),
    }
)


def _amount(minor: int, currency: str) -> Decimal:
    return Decimal(minor) if currency == "CLP" else Decimal(minor) / 100


_SYNC = f"""
UPDATE account a SET
    stage = {as_of("a.id", STAGE, ":far", "a.stage")},
    status = {as_of("a.id", STATUS, ":far", "a.status")},
    principal = CAST({as_of("a.id", TOTAL, ":far", "a.total")} AS numeric),
    total = CAST({as_of("a.id", TOTAL, ":far", "a.total")} AS numeric),
    past_due_amount = CAST({as_of("a.id", PAST_DUE, ":far", "a.past_due_amount")} AS numeric),
    assigned_collector_id = CAST({as_of("a.id", COLLECTOR, ":far", "a.assigned_collector_id")}
                                 AS uuid)
WHERE a.id = :id
"""


class World:
    def __init__(self, session: AsyncSession, first: date) -> None:
        self.session = session
        self.first = first

    async def event(self, account: Account, kind: str, day: int, after: dict[str, Any]) -> None:
        """The event a service writes, then the account's columns moved to what its history
        now says last (as the service moves them)."""
        await self.session.refresh(account)
        before = {k: _current(account, k) for k in after}
        self.session.add(
            AccountEvent(
                account_id=account.id, partner_id=account.partner_id, kind=kind,
                as_of=self.first + timedelta(days=day), actor_id="test",
                before=before if kind != "created" else None, after=after,
            )
        )  # fmt: skip
        await self.session.flush()
        await self.session.execute(text(_SYNC), {"id": account.id, "far": date(2100, 1, 1)})
        await self.session.refresh(account)

    async def step(self, account: Account, step: Step, collectors: list[User]) -> None:
        if step.kind == "stage":
            stage = STAGES[step.value % len(STAGES)]
            await self.event(
                account, "stage_changed", step.day, {"stage": stage, "dpd": step.value % 200}
            )
        elif step.kind == "balance":
            total = _amount(step.value * 3, account.currency)
            past_due = _amount(step.value, account.currency)
            await self.event(
                account, "balance_changed", step.day,
                {"principal": str(total), "interest": "0.00", "fees": "0.00",
                 "total": str(total), "past_due_amount": str(past_due)},
            )  # fmt: skip
        elif step.kind == "status":
            status = STATUSES[step.value % len(STATUSES)]
            await self.event(account, "status_changed", step.day, {"status": status})
        else:
            pick = step.value % (len(collectors) + 1)
            collector = str(collectors[pick].id) if pick < len(collectors) else None
            await self.event(
                account, "assigned", step.day,
                {"assigned_collector_id": collector, "assigned_team_id": None},
            )  # fmt: skip


def _current(account: Account, key: str) -> Any:
    value = getattr(account, {"assigned_collector_id": "assigned_collector_id"}.get(key, key), None)
    if value is None:
        return None
    return str(value) if not isinstance(value, int) else value


async def _check(session: AsyncSession, history: dict[str, Any]) -> None:
    # The latest business day of the two partners: a period ending then can be read live.
    today = max(business_today(), business_today("America/Santiago"))
    first = today - timedelta(days=DAYS)
    world = World(session, first)
    partners = [
        await make_partner(session),
        await make_partner(session, country="CL", currency="CLP", time_zone="America/Santiago"),
    ]
    collectors = []
    for n in range(2):
        user = User(
            username=f"snap-{n}-{uuid.uuid4().hex[:6]}", full_name="Snap", role="collector",
            skills=["phone"], password_hash="x",
        )  # fmt: skip
        session.add(user)
        collectors.append(user)
    await session.flush()

    specs: list[AccountSpec] = history["accounts"]
    rows: dict[int, Account] = {}

    async def open_account(n: int, spec: AccountSpec) -> Account:
        # The row exists from the day it arrives (a push writes it with its event).
        partner = partners[spec.partner]
        total = _amount(spec.total, partner.currency)
        rows[n] = await make_account(
            session, partner, created_at=LONG_AGO, principal=total, interest=0, fees=0,
            stage=STAGES[spec.stage],
        )  # fmt: skip
        return rows[n]

    for n, spec in enumerate(specs):
        if spec.arrival is None:
            await open_account(n, spec)
    for day in range(DAYS + 1):
        for n, spec in enumerate(specs):
            if spec.arrival == day:
                account = await open_account(n, spec)
                await world.event(
                    account, "created", day,
                    {"stage": account.stage, "dpd": account.dpd, "total": str(account.total)},
                )  # fmt: skip
            for step in spec.steps:
                if step.day == day and n in rows:
                    await world.step(rows[n], step, collectors)
        if day in history["nights"]:
            await snapshots.take(session, first + timedelta(days=day))
    opened = list(rows.values())
    for n, (which, day, amount, reversed_) in enumerate(history["payments"]):
        account = opened[which % len(opened)]
        session.add(
            Payment(
                account_id=account.id, partner_id=account.partner_id,
                amount=_amount(amount, account.currency), currency=account.currency,
                paid_on=first + timedelta(days=day), channel="spei",
                idempotency_key=f"snap-{n}-{uuid.uuid4().hex}", body_sha256="0" * 64,
                status="reversed" if reversed_ else "applied", allocation={},
                recorded_by="test",
                reversed_at=datetime.now(UTC) if reversed_ else None,
                reversed_by="test" if reversed_ else None,
            )
        )  # fmt: skip
    await session.flush()
    # Back-dated corrections: dated on or before the last night taken, written after it.
    for which, step in history["corrections"]:
        await world.step(opened[which % len(opened)], step, collectors)

    # Every row, once the marks are folded in, says what history says of its day.
    await snapshots.refresh_stale(session)
    wrong = await session.scalar(
        text(f"""
        SELECT string_agg(s.snapshot_date || ' ' || s.account_id, ', ')
        FROM portfolio_snapshot s JOIN account a ON a.id = s.account_id
        WHERE s.stage IS DISTINCT FROM {as_of("a.id", STAGE, "s.snapshot_date", "a.stage")}
           OR s.status IS DISTINCT FROM {as_of("a.id", STATUS, "s.snapshot_date", "a.status")}
           OR CAST(s.total AS numeric) / {snapshots.minor_factor("a.currency")}
              <> CAST({as_of("a.id", TOTAL, "s.snapshot_date", "a.total")} AS numeric)
           OR CAST(s.collector_id AS text) IS DISTINCT FROM
              {as_of("a.id", COLLECTOR, "s.snapshot_date", "a.assigned_collector_id")}
        """)
    )
    assert wrong is None, wrong

    principals = [
        Principal(subject="manager", role=Role.MANAGER),
        Principal(subject="partner", role=Role.PARTNER, partner_id=partners[0].id),
        Principal(
            subject=str(collectors[0].id), role=Role.COLLECTOR, user_id=collectors[0].id,
            username=collectors[0].username,
        ),
    ]  # fmt: skip
    for low, high in history["periods"]:
        start, end = first + timedelta(days=low), first + timedelta(days=high)
        cover = await snapshots.coverage(session, [start, end])
        if start in cover.taken and cover.readable(end):
            READ_FROM_SNAPSHOTS.append(high - low)
            if end not in cover.taken:
                READ_LIVE.append(high - low)
        for who in principals:
            for report in (reports.roll_rates, reports.recovery, reports.agents):
                fast = await report(session, who, start=start, end=end)
                slow = await report(session, who, start=start, end=end, from_snapshots=False)
                assert fast == slow, (report.__name__, who.role, start, end)


def test_reports_from_snapshots_equal_the_event_based_ones(database_url: str) -> None:
    READ_FROM_SNAPSHOTS.clear()
    READ_LIVE.clear()
    with asyncio.Runner() as runner:
        engine = create_async_engine(database_url, poolclass=NullPool)

        async def one(history: dict[str, Any]) -> None:
            async with engine.connect() as connection:
                transaction = await connection.begin()
                maker = async_sessionmaker(
                    bind=connection,
                    join_transaction_mode="create_savepoint",
                    expire_on_commit=False,
                )
                try:
                    async with maker() as session:
                        await _check(session, history)
                finally:
                    await transaction.rollback()

        @hypothesis_settings(
            max_examples=40,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(histories)
        def run(history: dict[str, Any]) -> None:
            runner.run(one(history))

        try:
            run()
        finally:
            runner.run(engine.dispose())
    # Periods read from snapshots, some longer than a day: the property held on them.
    assert len(READ_FROM_SNAPSHOTS) >= 5
    assert any(span > 1 for span in READ_FROM_SNAPSHOTS)
    assert READ_LIVE
