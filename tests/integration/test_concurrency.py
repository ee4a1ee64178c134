"""Races that the per-test transaction cannot show: real connections, committed data."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from app.domain.roles import Role
from app.models.user import User
from app.security import hash_secret_now, verify_secret
from tests.conftest import bearer_for


async def test_a_burst_of_guesses_gets_no_more_tries_than_the_policy(live, settings):
    client, add_user, _ = live
    user = await add_user(Role.COLLECTOR)
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/auth/token", data={"username": user.username, "password": "guess"})
            for _ in range(3 * settings.login_max_failures)
        )
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) == settings.login_max_failures
    assert statuses.count(429) == len(statuses) - settings.login_max_failures


async def test_two_admins_deactivating_each_other_leave_one_active(live, settings):
    client, add_user, database = live
    first, second = await add_user(Role.ADMIN), await add_user(Role.ADMIN)
    responses = await asyncio.gather(
        client.delete(f"/api/v1/users/{second.id}", headers=bearer_for(settings, first)),
        client.delete(f"/api/v1/users/{first.id}", headers=bearer_for(settings, second)),
    )
    async with database.sessionmaker() as session:
        active = await session.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.is_active)
        )
    assert active >= 1
    assert sorted(r.status_code for r in responses) in ([204, 401], [204, 409])


async def test_password_checks_leave_the_event_loop_free():
    stored = hash_secret_now("a-password-to-check")
    ticked_while_checking = asyncio.Event()
    checks = [asyncio.create_task(verify_secret(stored, "wrong-guess")) for _ in range(4)]

    async def ticker() -> None:
        while not all(c.done() for c in checks):
            if not checks[0].done():
                ticked_while_checking.set()
            await asyncio.sleep(0)

    await asyncio.gather(*checks, ticker())
    assert ticked_while_checking.is_set()
    assert not any(c.result() for c in checks)


async def test_two_collectors_cannot_both_take_the_days_only_contact(live, settings):
    """Colombia allows no second contact the day the debtor was reached: two right-party
    calls recorded at once for one debtor, only one lands."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from app.models.debtor import ContactConsent, ContactPoint
    from tests.factories import make_account, make_partner

    client, add_user, database = live
    manager = await add_user(Role.MANAGER)
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(
            session, country="CO", currency="COP", time_zone="America/Bogota"
        )
        account = await make_account(session, partner, dpd=45, currency="COP")
        point = ContactPoint(
            partner_id=partner.id,
            account_id=account.id,
            debtor_id=account.debtor_id,
            kind="phone",
            value="+573001234567",
            time_zone="America/Bogota",
        )
        session.add(point)
        session.add(
            ContactConsent(
                debtor_id=account.debtor_id,
                partner_id=partner.id,
                channel="call",
                status="granted",
                source="partner_file",
                partner_reference="AUT-0001",
                recorded_by="test",
            )
        )
    bogota = ZoneInfo("America/Bogota")
    day = datetime.now(bogota).date() - timedelta(days=1)
    while day.weekday() != 1:  # a Tuesday, never a Colombian holiday in practice
        day -= timedelta(days=1)
    headers = bearer_for(settings, manager)

    def call_at(hour: int) -> dict[str, object]:
        at = datetime(day.year, day.month, day.day, hour, 0, tzinfo=bogota).astimezone(UTC)
        return {
            "channel": "call",
            "contact_point_id": str(point.id),
            "party": "debtor",
            "result_code": "RPC",
            "started_at": at.isoformat(),
            "backdated_reason": "Entered from the day's call sheet",
            # Colombia: the debtor is not asked why they stopped paying (not_asked).
            "pcr": {"resolution": "Call next week"},
        }

    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/accounts/{account.id}/interactions", json=call_at(hour), headers=headers
            )
            for hour in (9, 10, 11, 12)
        )
    )
    # One at a time under the debtor's lock: the first is lawful; each later one is recorded
    # with its breach (after_contact, Ley 2300 art. 3) or, entered out of order, refused.
    assert all(r.status_code in (201, 422) for r in responses), [r.text for r in responses]
    recorded = [r.json() for r in responses if r.status_code == 201]
    assert [i["compliance"]["allowed"] for i in recorded].count(True) == 1
    for later in (i for i in recorded if not i["compliance"]["allowed"]):
        assert "after_contact" in {r["code"] for r in later["compliance"]["reasons"]}
