"""Helpers shared by the tests of interactions and the tests that build on them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.domain.roles import Role
from app.models.debtor import ContactPoint, RelatedParty
from app.models.user import Team, TeamMember
from tests.factories import make_account, make_partner

CDMX = ZoneInfo("America/Mexico_City")


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


@pytest.fixture
async def interactions_floor(session, make_user, auth_headers, clock):
    """A Mexican partner, a team with its lead and a phone collector, one assigned account
    with a debtor phone in Mexico City, one in Tijuana, one in Cancún and a reference."""
    partner = await make_partner(session)
    collector = await make_user(Role.COLLECTOR)
    lead = await make_user(Role.TEAM_LEAD)
    team = Team(name=f"Equipo {uuid.uuid4().hex[:6]}", lead_id=lead.id)
    session.add(team)
    await session.flush()
    session.add(TeamMember(team_id=team.id, user_id=collector.id))
    account = await make_account(
        session,
        partner,
        assigned_collector_id=collector.id,
        assigned_team_id=team.id,
        dpd=45,  # mid stage: the default strategy calls from the early stage on
        total=Decimal("10000.00"),
        principal=Decimal("10000.00"),
        interest=Decimal("0"),
        fees=Decimal("0"),
    )
    points = {}
    for name, value, zone in (
        ("cdmx", "+525512345678", "America/Mexico_City"),
        ("tijuana", "+526641234567", "America/Tijuana"),
        ("cancun", "+529981234567", "America/Cancun"),
    ):
        point = ContactPoint(
            partner_id=partner.id,
            account_id=account.id,
            debtor_id=account.debtor_id,
            kind="phone",
            value=value,
            time_zone=zone,
        )
        session.add(point)
        points[name] = point
    reference = RelatedParty(
        partner_id=partner.id, account_id=account.id, kind="reference", full_name="Ana Pérez"
    )
    session.add(reference)
    await session.flush()
    points["reference"] = ContactPoint(
        partner_id=partner.id,
        account_id=account.id,
        debtor_id=account.debtor_id,
        related_party_id=reference.id,
        kind="phone",
        value="+523312345678",
        time_zone="America/Mexico_City",
    )
    session.add(points["reference"])
    await session.flush()
    return {
        "clock": clock,
        "lead_user": lead,
        "account": account,
        "points": points,
        "collector": auth_headers(collector),
        "lead": auth_headers(lead),
        "other_collector": auth_headers(await make_user(Role.COLLECTOR)),
        "manager": auth_headers(await make_user(Role.MANAGER)),
    }


async def check(
    client, floor, point: str, at: datetime, channel: str = "call", language: str | None = None
):
    response = await client.post(
        f"/api/v1/accounts/{floor['account'].id}/contact-check",
        json={
            "channel": channel,
            "contact_point_id": str(floor["points"][point].id),
            "at": at.isoformat(),
        },
        headers=floor["collector"] | ({"Accept-Language": language} if language else {}),
    )
    assert response.status_code == 200, response.text
    return response.json()


def rpc(at: datetime, point: uuid.UUID, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "channel": "call",
        "contact_point_id": str(point),
        "party": "debtor",
        "result_code": "RPC",
        "started_at": at.isoformat(),
        "ended_at": (at + timedelta(minutes=4)).isoformat(),
        "pcr": {
            "problem_category": "reduced_income",
            "problem": "Hours cut at the factory",
            "circumstance": "Wife sells food; two children at school",
            "resolution": "Will pay part on the 15th; call back then",
        },
    }
    body.update(changes)
    return body


async def record(client, floor, body, who: str = "collector", *, live: bool = True):
    """Post the gestión; ``live``: entered as it ended (the server's clock a minute after)."""
    if live:
        end = body.get("ended_at") or body["started_at"]
        floor["clock"].now = datetime.fromisoformat(str(end)) + timedelta(minutes=1)
    return await client.post(
        f"/api/v1/accounts/{floor['account'].id}/interactions", json=body, headers=floor[who]
    )


def recent_weekday_noon() -> datetime:
    """Noon in Mexico City on the most recent Tuesday at least a day ago (no holiday rules
    apply in Mexico's pack, and the law's hours are every day)."""
    day = datetime.now(CDMX).date() - timedelta(days=1)
    while day.weekday() != 1:
        day -= timedelta(days=1)
    return local(CDMX, day.year, day.month, day.day, 12, 0)
