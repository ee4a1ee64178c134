"""Credit movements racing, on real connections with committed data: transfers in opposite
directions between two accounts of one debtor lock both accounts in id order, so they never
deadlock and each pays the other as a payment; managers approving one movement at once do it
once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from app.domain.roles import Role
from app.models.account import Account
from app.services import ledger
from tests.conftest import bearer_for
from tests.factories import make_account, make_debtor, make_partner, make_team


async def test_opposite_transfers_and_double_approvals(live, settings):
    client, add_user, database = live
    managers = [await add_user(Role.MANAGER) for _ in range(3)]
    lead = await add_user(Role.TEAM_LEAD)
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        debtor = await make_debtor(session)
        team = await make_team(session, lead)
        # Owing 10,000 each, and holding 1,000 of credit each (a partner's refresh raised
        # the debt after an overpayment, say).
        one, two = [
            await make_account(
                session, partner, debtor, principal=Decimal("10000.00"), interest=Decimal("0"),
                fees=Decimal("0"), credit=Decimal("1000.00"), assigned_team_id=team.id,
            )
            for _ in range(2)
        ]  # fmt: skip
    heads = [bearer_for(settings, m) for m in managers]

    def move(source, target, headers):
        return client.post(
            f"/api/v1/accounts/{source.id}/credit-transfers",
            json={"amount": "10.00", "target_account_id": str(target.id), "reason": "Race"},
            headers=headers,
        )

    responses = await asyncio.gather(
        *(move(one, two, heads[0]) for _ in range(5)),
        *(move(two, one, heads[1]) for _ in range(5)),
    )
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]

    asked = await client.post(
        f"/api/v1/accounts/{one.id}/credit-refunds",
        json={"amount": "100.00", "reason": "Race"},
        headers=bearer_for(settings, lead),
    )
    assert asked.json()["status"] == "pending_approval", asked.text
    movement = asked.json()["id"]
    decided = await asyncio.gather(
        *(
            client.post(f"/api/v1/credit-movements/{movement}/approve", json={}, headers=headers)
            for headers in (heads[0], heads[1], heads[2])
        )
    )
    assert sorted(r.status_code for r in decided) == [200, 409, 409], [r.text for r in decided]
    async with database.sessionmaker() as session:
        # Each sent 50 of credit, which paid 50 of the other's principal; one refunded 100.
        assert (await ledger.verify(session, one.id)).ok
        assert (await ledger.verify(session, two.id)).ok
        fresh = [await session.get_one(Account, a.id) for a in (one, two)]
        assert [(a.credit, a.principal) for a in fresh] == [
            (Decimal("850.00"), Decimal("9950.00")),
            (Decimal("950.00"), Decimal("9950.00")),
        ]
