"""Helpers shared by the tests of plans and the tests that build on them."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlmodel import col, select

from app.domain.roles import Role
from app.models.audit import AuditEvent
from app.models.user import Team, TeamMember
from tests.factories import make_account, make_partner
from tests.helpers.plan_quotes import next_weekday


@pytest.fixture
async def plans_desk(session, make_user, auth_headers):
    """A Mexican partner; a collector (in a team with its lead) assigned a nonaccrual
    account of 10,000 and one of 50,000; an unassigned account; a manager and an auditor."""
    partner = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    lead = await make_user(Role.TEAM_LEAD)
    other_lead = await make_user(Role.TEAM_LEAD)
    team = Team(name=f"Equipo {uuid.uuid4().hex[:6]}", lead_id=lead.id)
    session.add(team)
    await session.flush()
    session.add(TeamMember(team_id=team.id, user_id=collector.id))

    async def nonaccrual(total: str, **overrides: object):
        return await make_account(
            session,
            partner,
            dpd=120,
            stage="nonaccrual",
            principal=Decimal(total),
            interest=Decimal("0"),
            fees=Decimal("0"),
            past_due_amount=Decimal("1000.00"),
            **overrides,
        )

    small = await nonaccrual("10000.00", assigned_collector_id=collector.id)
    big = await nonaccrual("50000.00", assigned_collector_id=collector.id)
    unassigned = await nonaccrual("10000.00")
    await session.commit()
    return {
        "partner": partner,
        "small": small,
        "big": big,
        "unassigned": unassigned,
        "collector_user": collector,
        "collector": auth_headers(collector),
        "lead": auth_headers(lead),
        "other_lead": auth_headers(other_lead),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "manager2": auth_headers(await make_user(Role.MANAGER)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
    }


async def propose(client, desk, account: str = "small", who: str = "collector", **body: object):
    payload: dict[str, object] = {
        "plan_type": "settlement",
        "installments": 1,
        "frequency": "monthly",
        "first_due_date": next_weekday(3),
        "discount_pct": "30",
    }
    payload.update(body)
    return await client.post(
        f"/api/v1/accounts/{desk[account].id}/plans", json=payload, headers=desk[who]
    )


async def act(client, desk, plan_id: str, action: str, who: str, note: str | None = "ok"):
    body = {} if note is None else {"note": note}
    return await client.post(f"/api/v1/plans/{plan_id}/{action}", json=body, headers=desk[who])


async def audited(session, plan_id: str) -> list[str]:
    rows = await session.scalars(
        select(col(AuditEvent.action))
        .where(col(AuditEvent.entity_id) == plan_id)
        .order_by(col(AuditEvent.seq))
    )
    return list(rows.all())
