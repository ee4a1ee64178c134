"""`next` racing on real connections with committed data: twenty sessions of one collector
ask at once, and no account is handed out twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from httpx import Response
from sqlalchemy import func, select

from app.domain.roles import Role
from app.models.account import Account
from app.models.debtor import ContactPoint
from app.models.worklist import WorklistClaim
from app.services import worklists
from tests.conftest import bearer_for
from tests.factories import daytime_phone, make_account, make_partner

NEXT = "/api/v1/worklists/me/next"


async def seed(database, collector, count: int) -> None:
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        for n in range(count):
            account = await make_account(
                session,
                partner,
                assigned_collector_id=collector.id,
                dpd=35,
                # Equal scores everywhere but the id: every session wants the same top.
                principal=Decimal("1000.00"),
            )
            session.add(
                ContactPoint(
                    partner_id=partner.id,
                    account_id=account.id,
                    debtor_id=account.debtor_id,
                    kind="phone",
                    # Where it is daytime now: the law runs on the number's own clock.
                    value=daytime_phone(n)[0],
                    time_zone=daytime_phone(n)[1],
                )
            )


async def test_twenty_concurrent_next_calls_never_claim_an_account_twice(live, settings):
    client, add_user, database = live
    collector = await add_user(Role.COLLECTOR)
    await seed(database, collector, 30)
    headers = bearer_for(settings, collector)
    responses = await asyncio.gather(*(client.post(NEXT, headers=headers) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    claimed = [r.json()["account_id"] for r in responses]
    assert len(set(claimed)) == 20
    async with database.sessionmaker() as session:
        rows = (await session.scalars(select(WorklistClaim))).all()
        assert sorted(str(r.account_id) for r in rows) == sorted(claimed)


async def test_more_callers_than_accounts_get_204_not_a_shared_account(live, settings):
    client, add_user, database = live
    collector = await add_user(Role.COLLECTOR)
    await seed(database, collector, 12)
    headers = bearer_for(settings, collector)
    responses = await asyncio.gather(*(client.post(NEXT, headers=headers) for _ in range(20)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 12 + [204] * 8, [r.text for r in responses]
    claimed = [r.json()["account_id"] for r in responses if r.status_code == 200]
    assert len(set(claimed)) == 12
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WorklistClaim)) == 12


async def test_concurrent_calls_on_kept_rankings_never_claim_an_account_twice(live, settings):
    """Two collectors' rankings kept by the process (one call each), then twelve sessions of
    each ask at once, and another process claims one of the kept accounts meanwhile: every
    account is handed out once, to its own collector, never the one claimed elsewhere."""
    client, add_user, database = live
    collectors = [await add_user(Role.COLLECTOR) for _ in range(2)]
    for collector in collectors:
        await seed(database, collector, 16)
    headers = [bearer_for(settings, collector) for collector in collectors]
    first = [await client.post(NEXT, headers=h) for h in headers]
    assert [r.status_code for r in first] == [200, 200]
    kept = worklists._RANKINGS[collectors[0].id].following
    elsewhere = kept[len(kept) // 2]
    async with database.sessionmaker() as session, session.begin():
        session.add(
            WorklistClaim(
                account_id=elsewhere,
                partner_id=(await session.get_one(Account, elsewhere)).partner_id,
                collector_id=collectors[0].id,
                expires_at=datetime.now(UTC) + timedelta(minutes=5),
            )
        )

    async def ask(n: int) -> tuple[int, Response]:
        return n, await client.post(NEXT, headers=headers[n])

    asked = await asyncio.gather(*(ask(n) for n in (0, 1) for _ in range(12)))
    responses = [r for _, r in asked]
    assert [r.status_code for r in responses] == [200] * 24, [r.text for r in responses]
    claimed = [r.json()["account_id"] for r in (*first, *responses)]
    assert len(set(claimed)) == 26
    assert str(elsewhere) not in claimed
    async with database.sessionmaker() as session:
        rows = (await session.scalars(select(WorklistClaim))).all()
        assert sorted(str(r.account_id) for r in rows) == sorted([*claimed, str(elsewhere)])
        owners = {
            str(account_id): owner
            for account_id, owner in (
                await session.execute(select(Account.id, Account.assigned_collector_id))
            ).all()
        }
    assert all(owners[r.json()["account_id"]] == collectors[n].id for n, r in asked)


async def test_more_calls_than_kept_accounts_get_204_not_a_shared_account(live, settings):
    client, add_user, database = live
    collector = await add_user(Role.COLLECTOR)
    await seed(database, collector, 8)
    headers = bearer_for(settings, collector)
    first = await client.post(NEXT, headers=headers)
    assert first.status_code == 200
    responses = await asyncio.gather(*(client.post(NEXT, headers=headers) for _ in range(12)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 7 + [204] * 5, [r.text for r in responses]
    claimed = [first.json()["account_id"]]
    claimed += [r.json()["account_id"] for r in responses if r.status_code == 200]
    assert len(set(claimed)) == 8
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WorklistClaim)) == 8
