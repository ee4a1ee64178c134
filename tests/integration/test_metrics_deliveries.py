"""Webhook delivery outcomes and the database pool's gauges, counted on a real pool with
committed data and a real receiver on 127.0.0.1 (first closed, then answering 200)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from ipaddress import ip_network

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from app.config import Settings
from app.domain.roles import Role
from app.services import webhooks
from tests.conftest import bearer_for
from tests.factories import Receiver, free_port, make_account, make_partner, record_cash_payment


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, with a receiver on 127.0.0.1 allowed and retries due only
    when the test makes them due."""
    return settings.model_copy(
        update={
            "webhook_allowed_networks": [ip_network("127.0.0.1/32")],
            "webhook_retry_base_seconds": 600,
            "webhook_retry_cap_seconds": 600,
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(port=free_port(), status=200)
    yield found
    found.stop()


def outcomes() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value("cartera_webhook_deliveries_total", {"outcome": outcome})
        or 0.0
        for outcome in ("delivered", "retry_scheduled", "gave_up")
    }


def moved(before: dict[str, float]) -> dict[str, float]:
    return {k: v - before[k] for k, v in outcomes().items() if v != before[k]}


async def test_each_outcome_of_a_delivery_is_counted(live, settings, receiver):
    client, add_user, database = live
    admin = bearer_for(settings, await add_user(Role.ADMIN))
    manager = bearer_for(settings, await add_user(Role.MANAGER))
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        account = await make_account(
            session, partner, principal=Decimal("1000"), interest=Decimal(0), fees=Decimal(0)
        )
    made = await client.post(
        f"/api/v1/partners/{partner.id}/webhooks",
        json={
            "url": receiver.url,
            "event_types": ["payment.recorded"],
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text

    await record_cash_payment(client, manager, account, f"metrics-1-{account.id}")
    # The receiver's port is closed: the attempt fails and a retry is scheduled.
    before = outcomes()
    assert await webhooks.deliver_due(database, settings) == 1
    assert moved(before) == {"retry_scheduled": 1}

    # Up and due again: delivered.
    receiver.start()
    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE webhook_delivery SET next_attempt_at = now()"))
    before = outcomes()
    assert await webhooks.deliver_due(database, settings) == 1
    assert moved(before) == {"delivered": 1}

    # Down again, for an event already older than the policy keeps trying: given up.
    receiver.stop()
    await record_cash_payment(client, manager, account, f"metrics-2-{account.id}")
    impatient = settings.model_copy(update={"webhook_max_age_hours": 1e-9})
    before = outcomes()
    assert await webhooks.deliver_due(database, impatient) == 1
    assert moved(before) == {"gave_up": 1}
    async with database.sessionmaker() as session:
        statuses = (
            await session.scalars(text("SELECT status FROM webhook_delivery ORDER BY created_at"))
        ).all()
    assert statuses == ["delivered", "failed"]


def pool_gauges() -> tuple[float, float]:
    in_use = REGISTRY.get_sample_value("cartera_db_pool_connections_in_use") or 0.0
    opened = REGISTRY.get_sample_value("cartera_db_pool_connections_open") or 0.0
    return in_use, opened


async def test_pool_gauges_follow_connections_taken_and_given_back(live):
    _client, _add_user, database = live  # a pool of its own, nothing opened yet
    in_use, opened = pool_gauges()
    async with database.engine.connect() as first, database.engine.connect() as second:
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))
        assert pool_gauges() == (in_use + 2, opened + 2)
    # Given back, not closed: the pool keeps them open for the next checkout.
    assert pool_gauges() == (in_use, opened + 2)
    await database.engine.dispose()
    assert pool_gauges() == (in_use, opened)
