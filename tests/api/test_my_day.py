"""GET /me/day (a collector's day) and GET /me/team-day (a lead's): what is due today, what
waits on others, and each collector's work so far, for the caller's own accounts or teams."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, select

from app.domain.roles import Role
from app.models.callback import Callback
from app.models.compliance_incident import ComplianceIncident
from app.models.debtor import ContactPoint
from app.models.escalation import Escalation
from app.models.interaction import Interaction
from app.models.plan import PlanInstallment
from app.models.promise import Promise
from app.models.target import RecoveryTarget
from tests.factories import (
    business_today,
    counted_statements,
    daytime_phone,
    make_account,
    make_partner,
    make_plan,
    make_team,
)

DAY = "/api/v1/me/day"
TEAM_DAY = "/api/v1/me/team-day"
TODAY = business_today()  # the agency's zone is Mexico City, as the partners' here


async def call(session, account, collector, result: str, at: datetime) -> Interaction:
    interaction = Interaction(
        account_id=account.id,
        partner_id=account.partner_id,
        debtor_id=account.debtor_id,
        collector_id=collector.id,
        channel="call",
        direction="outbound",
        party="debtor" if result.startswith("RPC") else "none",
        result_code=result,
        started_at=at,
        pack_version="MX-test",
        compliance={"allowed": True},
        created_by=f"user:{collector.id}",
    )
    session.add(interaction)
    await session.flush()
    return interaction


async def promise(session, account, collector, due_in_days: int, status: str = "pending"):
    made = await call(session, account, collector, "RPC_PTP", datetime.now(UTC) - timedelta(days=9))
    row = Promise(
        account_id=account.id,
        partner_id=account.partner_id,
        interaction_id=made.id,
        amount=Decimal("200.00"),
        currency=account.currency,
        due_date=TODAY + timedelta(days=due_in_days),
        status=status,
        resolved_on=TODAY - timedelta(days=1) if status == "broken" else None,
        created_by=f"user:{collector.id}",
    )
    session.add(row)
    await session.flush()
    return row


@pytest.fixture
async def floor(session, make_user, auth_headers):
    """A lead's team of c1 and c2; c3 in another team. c1 works three accounts."""
    partner = await make_partner(session)
    lead, c1, c2, c3 = (
        await make_user(Role.TEAM_LEAD),
        await make_user(Role.COLLECTOR),
        await make_user(Role.COLLECTOR),
        await make_user(Role.COLLECTOR),
    )
    await make_team(session, lead, [c1, c2])
    await make_team(session, None, [c3])
    a1, a2, a3 = [
        await make_account(session, partner, dpd=30 + n, assigned_collector_id=c1.id)
        for n in range(3)
    ]
    b1 = await make_account(session, partner, dpd=50, assigned_collector_id=c2.id)
    x1 = await make_account(session, partner, dpd=50, assigned_collector_id=c3.id)
    phone, zone = daytime_phone(11)
    session.add(
        ContactPoint(
            partner_id=partner.id,
            account_id=a1.id,
            debtor_id=a1.debtor_id,
            kind="phone",
            value=phone,
            time_zone=zone,
        )
    )
    await session.commit()
    return {
        "users": {"lead": lead, "c1": c1, "c2": c2, "c3": c3},
        "accounts": {"a1": a1, "a2": a2, "a3": a3, "b1": b1, "x1": x1},
        "headers": {n: auth_headers(u) for n, u in (("lead", lead), ("c1", c1), ("c2", c2))},
    }


class TestCollectorDay:
    async def test_what_is_due_waits_and_was_answered(self, client, session, floor):
        users, accounts = floor["users"], floor["accounts"]
        c1 = users["c1"]
        today = await promise(session, accounts["a1"], c1, 0)
        overdue = await promise(session, accounts["a2"], c1, -2)
        await promise(session, accounts["a3"], c1, 5)  # next week: not today's
        await promise(session, accounts["b1"], users["c2"], 0)  # someone else's
        plan = await make_plan(session, accounts["a2"], c1, ["300.00", "300.00"])
        await session.flush()
        # Its first installment fell due yesterday and is unpaid.
        first = await session.scalar(
            select(PlanInstallment).where(
                col(PlanInstallment.plan_id) == plan.id, col(PlanInstallment.number) == 1
            )
        )
        first.due_date = TODAY - timedelta(days=1)
        pending = await make_plan(session, accounts["a3"], c1, ["900.00"])
        pending.status = "pending_approval"
        session.add(
            Escalation(
                account_id=accounts["a1"].id,
                partner_id=accounts["a1"].partner_id,
                source="collector",
                reason="Asks for a supervisor",
                opened_by=str(c1.id),  # the collector's audit id
                status="resolved",
                outcome="no_action",
                resolved_at=datetime.now(UTC) - timedelta(days=1),
            )
        )
        session.add(
            RecoveryTarget(
                month=TODAY.replace(day=1),
                scope="collector",
                scope_id=c1.id,
                amount=Decimal("10000.00"),
                currency="MXN",
                set_by="test",
            )
        )
        await session.commit()

        response = await client.get(DAY, headers=floor["headers"]["c1"])
        assert response.status_code == 200, response.text
        day = response.json()
        assert day["date"] == TODAY.isoformat()
        assert day["time_zone"] == "America/Mexico_City"
        assert [p["id"] for p in day["promises_due"]["items"]] == [str(overdue.id), str(today.id)]
        assert day["promises_due"]["total"] == 2
        assert day["promises_due"]["items"][0]["account"]["external_ref"] == (
            accounts["a2"].external_ref
        )
        due = day["installments_due"]["items"]
        assert [(d["plan_id"], d["number"], d["kind"]) for d in due] == [
            (str(plan.id), 1, "installment")
        ]
        assert due[0]["amount"] == "300.00"
        assert [p["id"] for p in day["plans_pending_approval"]["items"]] == [str(pending.id)]
        assert [e["outcome"] for e in day["escalations_answered"]["items"]] == ["no_action"]
        assert [(t["amount"], t["recovered"]) for t in day["targets"]] == [("10000.00", "0.00")]
        assert [i["account_id"] for i in day["queue_head"]] == [str(accounts["a1"].id)]

    async def test_only_collectors_have_a_day_and_its_cost_is_fixed(
        self, client, session, connection, floor
    ):
        lead = await client.get(DAY, headers=floor["headers"]["lead"])
        assert (lead.status_code, lead.json()["code"]) == (403, "permission_denied")

        async def statements() -> int:
            with counted_statements(connection) as seen:
                response = await client.get(DAY, headers=floor["headers"]["c1"])
            assert response.status_code == 200, response.text
            return len(seen)

        # Labels are read once a section has lines: compare a day with lines to a fuller one.
        await promise(session, floor["accounts"]["a1"], floor["users"]["c1"], 0)
        await session.commit()
        before = await statements()
        for n in range(6):
            await promise(session, floor["accounts"]["a1"], floor["users"]["c1"], -n)
        await session.commit()
        assert await statements() == before


class TestTeamDay:
    async def test_a_lead_sees_their_teams_work_and_waits(self, client, session, floor):
        users, accounts = floor["users"], floor["accounts"]
        now = datetime.now(UTC)
        await call(session, accounts["a1"], users["c1"], "RPC_PTP", now - timedelta(minutes=5))
        await call(session, accounts["a2"], users["c1"], "NO_ANSWER", now - timedelta(minutes=4))
        await call(session, accounts["b1"], users["c2"], "RPC", now - timedelta(minutes=3))
        await call(session, accounts["x1"], users["c3"], "RPC", now - timedelta(minutes=2))
        broken = await promise(session, accounts["b1"], users["c2"], -3, status="broken")
        await promise(session, accounts["x1"], users["c3"], -3, status="broken")  # not theirs
        waiting = await make_plan(session, accounts["a1"], users["c1"], ["500.00"])
        waiting.status = "pending_approval"
        foreign = await make_plan(session, accounts["x1"], users["c3"], ["500.00"])
        foreign.status = "pending_approval"
        interaction = await call(session, accounts["a3"], users["c1"], "RPC", now)
        session.add(
            ComplianceIncident(
                account_id=accounts["a3"].id,
                interaction_id=interaction.id,
                partner_id=accounts["a3"].partner_id,
                collector_id=users["c1"].id,
                occurred_at=now,
                reasons=[
                    {
                        "code": "outside_hours",
                        "message": "Called at 22:30 local time",
                        "basis": "law",
                        "citation": "CONDUSEF, Disposiciones de cobranza, art. 7",
                    }
                ],
                pack_version="MX-test",
            )
        )
        await session.commit()
        payment = await client.post(
            "/api/v1/payments",
            json={
                "account_id": str(accounts["a1"].id),
                "amount": "150.00",
                "currency": accounts["a1"].currency,
                "paid_on": TODAY.isoformat(),
                "channel": "spei",
            },
            headers={**floor["headers"]["c1"], "Idempotency-Key": uuid.uuid4().hex},
        )
        assert payment.status_code == 201, payment.text

        response = await client.get(TEAM_DAY, headers=floor["headers"]["lead"])
        assert response.status_code == 200, response.text
        day = response.json()
        assert [p["id"] for p in day["approvals_waiting"]["items"]] == [str(waiting.id)]
        assert [p["id"] for p in day["promises_broken"]["items"]] == [str(broken.id)]
        assert day["open_incidents"]["total"] == 1
        tallies = {t["collector_id"]: t for t in day["collectors"]}
        assert set(tallies) == {str(users["c1"].id), str(users["c2"].id)}
        c1 = tallies[str(users["c1"].id)]
        assert (c1["contacts"], c1["right_party_contacts"], c1["promises_taken"]) == (3, 2, 1)
        assert c1["collected"] == [{"currency": "MXN", "amount": "150.00"}]
        assert tallies[str(users["c2"].id)]["collected"] == []

    async def test_collectors_may_not_see_the_team_day(self, client, floor):
        response = await client.get(TEAM_DAY, headers=floor["headers"]["c1"])
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


async def callback(session, account, collector, due_in: timedelta) -> Callback:
    agreed = await call(
        session, account, collector, "RPC_CALLBACK", datetime.now(UTC) - timedelta(hours=3)
    )
    due = datetime.now(UTC) + due_in
    row = Callback(
        account_id=account.id,
        partner_id=account.partner_id,
        debtor_id=account.debtor_id,
        interaction_id=agreed.id,
        collector_id=collector.id,
        agreed_at=due,
        time_zone="America/Mexico_City",
        due_at=due,
        created_by=str(collector.id),
    )
    session.add(row)
    await session.flush()
    return row


class TestCallbacks:
    async def test_a_due_callback_is_in_my_day_and_a_missed_one_in_the_team_day(
        self, client, session, floor
    ):
        users, accounts = floor["users"], floor["accounts"]
        due = await callback(session, accounts["a1"], users["c1"], -timedelta(minutes=5))
        await callback(session, accounts["a2"], users["c1"], timedelta(hours=2))  # later
        missed = await callback(session, accounts["b1"], users["c2"], -timedelta(hours=2))
        foreign = await callback(session, accounts["x1"], users["c3"], -timedelta(hours=2))
        await session.commit()

        mine = (await client.get(DAY, headers=floor["headers"]["c1"])).json()
        assert [c["id"] for c in mine["callbacks_due"]["items"]] == [str(due.id)]
        assert mine["callbacks_due"]["total"] == 1
        assert mine["callbacks_due"]["items"][0]["status"] == "due"
        team = (await client.get(TEAM_DAY, headers=floor["headers"]["lead"])).json()
        assert [c["id"] for c in team["callbacks_missed"]["items"]] == [str(missed.id)]
        assert str(foreign.id) not in {c["id"] for c in team["callbacks_missed"]["items"]}
