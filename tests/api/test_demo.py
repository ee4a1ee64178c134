"""The demo data gives a newcomer working logins of every kind."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from jose import jwt
from sqlalchemy import delete

from app.domain.identity import Country
from app.models.user import User
from app.services import demo


async def test_demo_logins_work_through_the_api(client, session):
    # Start from a database without another "admin" so the seed runs here.
    await session.execute(delete(User).where(User.username.in_([u[0] for u in demo.DEMO_STAFF])))
    assert await demo.seed(session) is True
    await session.commit()
    assert await demo.seed(session) is False

    for username, _, role, _ in demo.DEMO_STAFF:
        response = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": demo.DEMO_PASSWORD}
        )
        assert response.status_code == 200, username
        assert jwt.get_unverified_claims(response.json()["access_token"])["role"] == role.value

    partner = await client.post(
        "/api/v1/auth/client-token",
        data={
            "grant_type": "client_credentials",
            "client_id": demo.DEMO_CLIENT_ID,
            "client_secret": demo.DEMO_CLIENT_SECRET,
        },
    )
    assert partner.status_code == 200
    assert jwt.get_unverified_claims(partner.json()["access_token"])["role"] == "partner"

    token = (
        await client.post(
            "/api/v1/auth/token", data={"username": "lead", "password": demo.DEMO_PASSWORD}
        )
    ).json()["access_token"]
    teams = await client.get("/api/v1/teams", headers={"Authorization": f"Bearer {token}"})
    assert [t["name"] for t in teams.json()["items"]] == ["Equipo Centro"]


async def test_demo_portfolio_covers_every_stage_zone_and_collector(client, session):
    from sqlalchemy import func, select

    from app.domain.stages import Stage
    from app.models.account import Account
    from app.models.debtor import ContactPoint, RelatedParty

    await session.execute(delete(User).where(User.username.in_([u[0] for u in demo.DEMO_STAFF])))
    assert await demo.seed(session) is True

    total = await session.scalar(select(func.count()).select_from(Account))
    assert 1900 <= total <= 2100
    partners = await session.scalar(select(func.count(func.distinct(Account.partner_id))))
    assert partners == 2
    stages = set(await session.scalars(select(Account.stage).distinct()))
    assert stages == {s.value for s in Stage}
    zones = set(
        await session.scalars(
            select(ContactPoint.time_zone)
            .where(ContactPoint.time_zone.like("America/%"))
            .distinct()
        )
    )
    assert {
        "America/Mexico_City",
        "America/Tijuana",
        "America/Cancun",
        "America/Hermosillo",
    } <= zones
    kinds = set(await session.scalars(select(RelatedParty.kind).distinct()))
    assert kinds == {"reference", "guarantor"}
    currencies = set(await session.scalars(select(Account.currency).distinct()))
    assert currencies == {"MXN", "COP"}

    for username in ("phone1", "field1"):
        token = (
            await client.post(
                "/api/v1/auth/token", data={"username": username, "password": demo.DEMO_PASSWORD}
            )
        ).json()["access_token"]
        page = await client.get(
            "/api/v1/accounts?limit=200", headers={"Authorization": f"Bearer {token}"}
        )
        assert page.status_code == 200
        mine = page.json()["items"]
        assert mine, username
        user_id = await session.scalar(select(User.id).where(User.username == username))
        assert all(a["assigned_collector_id"] == str(user_id) for a in mine)


async def test_demo_has_a_collectors_weeks_of_work(session):
    from sqlalchemy import func, select

    from app.models.escalation import Escalation
    from app.models.interaction import Interaction, InteractionFeedback
    from app.models.promise import Promise
    from app.models.strategy import CollectionStrategy

    await session.execute(delete(User).where(User.username.in_([u[0] for u in demo.DEMO_STAFF])))
    assert await demo.seed(session) is True

    strategies = await session.scalar(
        select(func.count(func.distinct(CollectionStrategy.partner_id)))
    )
    assert strategies == 2
    with_pcr = await session.scalar(
        select(func.count())
        .select_from(Interaction)
        .where(Interaction.result_code.like("RPC%"), Interaction.pcr_problem.is_not(None))
    )
    assert with_pcr and with_pcr > 10
    statuses = set(await session.scalars(select(Promise.status).distinct()))
    assert statuses == {"pending", "kept", "partially_kept", "broken"}
    open_escalations = await session.scalar(
        select(func.count()).select_from(Escalation).where(Escalation.status == "open")
    )
    assert open_escalations and open_escalations >= 2
    assert await session.scalar(select(func.count()).select_from(InteractionFeedback))


async def test_demo_has_plans_in_every_status_payments_and_a_reversal(session):
    from sqlalchemy import select

    from app.models.plan import PaymentPlan

    await session.execute(delete(User).where(User.username.in_([u[0] for u in demo.DEMO_STAFF])))
    assert await demo.seed(session) is True
    plans = list(await session.scalars(select(PaymentPlan)))
    statuses = {p.status for p in plans}
    assert {"active", "pending_approval", "rejected", "cancelled", "broken"} <= statuses
    pending = [p for p in plans if p.status == "pending_approval"]
    assert any(p.approver_role == "team_lead" for p in pending)
    assert "completed" in statuses

    from app.models.payment import Payment

    payment_statuses = sorted(await session.scalars(select(Payment.status)))
    assert payment_statuses == ["applied"] * 5 + ["reversed"]


async def test_demo_has_a_reconciled_payment_file(session):
    from sqlalchemy import select

    from app.models.payment_file import PaymentFile, PaymentFileLine

    await session.execute(delete(User).where(User.username.in_([u[0] for u in demo.DEMO_STAFF])))
    assert await demo.seed(session) is True
    (payment_file,) = (await session.scalars(select(PaymentFile))).all()
    outcomes = sorted(
        await session.scalars(
            select(PaymentFileLine.outcome).where(
                PaymentFileLine.payment_file_id == payment_file.id
            )
        )
    )
    assert outcomes == sorted(
        ["matched", "matched", "matched_by_reference", "unmatched", "rejected", "duplicate"]
    )
    assert payment_file.status == "completed_with_errors"


def next_working_wednesday() -> date:
    """A Wednesday within the next two weeks that is not one of Mexico's fixed-date holidays:
    a day the contact law allows visits."""
    day = datetime.now(ZoneInfo("America/Mexico_City")).date() + timedelta(days=1)
    while day.weekday() != 2 or (day.month, day.day) in {(1, 1), (5, 1), (9, 16), (12, 25)}:
        day += timedelta(days=1)
    return day


async def test_the_demo_field_collector_has_a_route(client, session):
    from sqlalchemy import select

    from app.models.debtor import ContactPoint

    await session.execute(delete(User).where(User.username.in_([u[0] for u in demo.DEMO_STAFF])))
    assert await demo.seed(session) is True
    await session.commit()
    located = await session.scalar(
        select(ContactPoint).where(
            ContactPoint.kind == "address",
            ContactPoint.state == "Jalisco",
            ContactPoint.latitude.is_not(None),
        )
    )
    assert located is not None
    # Around Guadalajara, not somewhere else in the country.
    assert abs(located.latitude - Decimal("20.67")) < 1
    assert abs(located.longitude - Decimal("-103.35")) < 1

    token = (
        await client.post(
            "/api/v1/auth/token", data={"username": "field1", "password": demo.DEMO_PASSWORD}
        )
    ).json()["access_token"]
    response = await client.get(
        "/api/v1/routes/me",
        params={"date": next_working_wednesday().isoformat()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    route = response.json()
    assert route["stops"], route["left_out"][:5]
    assert "no_coordinates" not in {left["reason"] for left in route["left_out"]}


def test_demo_coordinates_are_repeatable():
    today = date(2026, 11, 24)
    first = demo.demo_rows(Country.MX, "MXN", 30, today)
    again = demo.demo_rows(Country.MX, "MXN", 30, today)
    assert first == again
    places = [a for row in first for a in row["debtor"]["addresses"]]
    assert all(a["latitude"] is not None and a["longitude"] is not None for a in places)
