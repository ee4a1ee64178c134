"""Plan approvals racing on real connections with committed data: one wins, one is 409."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain.roles import Role
from tests.conftest import bearer_for
from tests.factories import make_account, make_partner


def _weekday(days: int) -> str:
    day = datetime.now(UTC).date() + timedelta(days=days)
    while day.weekday() not in (1, 2, 3):
        day += timedelta(days=1)
    return day.isoformat()


async def test_two_managers_approving_one_plan_at_once_one_wins(live, settings):
    client, add_user, database = live
    collector = await add_user(Role.COLLECTOR)
    managers = [await add_user(Role.MANAGER), await add_user(Role.MANAGER)]
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        account = await make_account(
            session,
            partner,
            assigned_collector_id=collector.id,
            dpd=120,
            stage="nonaccrual",
            principal=Decimal("10000.00"),
            interest=Decimal("0"),
            fees=Decimal("0"),
        )
    proposed = await client.post(
        f"/api/v1/accounts/{account.id}/plans",
        json={
            "plan_type": "settlement",
            "installments": 1,
            "frequency": "monthly",
            "first_due_date": _weekday(3),
            "discount_pct": "45",
        },
        headers=bearer_for(settings, collector),
    )
    assert proposed.status_code == 201, proposed.text
    plan = proposed.json()
    assert plan["status"] == "pending_approval"

    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/plans/{plan['id']}/approve",
                json={"note": "ok"},
                headers=bearer_for(settings, manager),
            )
            for manager in managers
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    final = await client.get(
        f"/api/v1/plans/{plan['id']}", headers=bearer_for(settings, managers[0])
    )
    assert final.json()["status"] == "active"
    assert final.json()["version"] == plan["version"] + 1
