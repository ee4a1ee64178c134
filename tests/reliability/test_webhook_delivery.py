"""Events to partners against a real receiver (issue 19): an HTTP server on 127.0.0.1 started
by the test, first down (its port closed), then answering 500, then 200.

- every event arrives, each signature verifies with ``standardwebhooks``' ``Webhook.verify``,
  failed attempts are retried with backoff and the delivery log says what happened;
- a ``cartera worker`` process killed (SIGKILL) while the receiver holds its request open
  loses nothing: the delivery, still pending, is sent again by the next worker with the same
  ``webhook-id`` (at least once);
- a URL that was allowed when subscribed is checked again at delivery: with settings that no
  longer allow the network, nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from app.config import Settings
from app.domain.roles import Role
from app.services import webhooks
from tests.conftest import bearer_for
from tests.factories import (
    Receiver,
    free_port,
    make_account,
    make_partner,
    record_cash_payment,
)

BIN = Path(sys.executable).parent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        env="test",
        database_url=None,
        log_json=True,
        data_dir=tmp_path,
        webhook_allowed_networks=["127.0.0.1/32"],
        webhook_retry_base_seconds=0.2,
        webhook_retry_cap_seconds=0.5,
        webhook_timeout_seconds=5,
        _env_file=None,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(port=free_port())
    yield found
    if found.hold is not None:
        found.hold.set()
    found.stop()


def _start_worker(env: dict[str, str], folder: Path, log: Any) -> subprocess.Popen[bytes]:
    """A ``cartera worker`` process on the committed database (no .env of the repository's)."""
    return subprocess.Popen(
        [str(BIN / "cartera"), "worker", "--poll", "0.2"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


async def _subscribe(client: Any, headers: dict[str, str], partner_id: Any, url: str) -> dict:
    made = await client.post(
        f"/api/v1/partners/{partner_id}/webhooks",
        json={"url": url, "event_types": ["payment.recorded", "account.closed"]},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    return made.json()


async def _deliveries(database: Any) -> list[dict[str, Any]]:
    async with database.sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT d.id, d.event_id, d.status, d.attempts, d.response_code, d.latency_ms,"
                " d.last_error FROM webhook_delivery d ORDER BY d.created_at"
            )
        )
        return [dict(r._mapping) for r in rows]


async def _until(predicate: Any, seconds: float, step: Any) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await step()
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not reached in time")


async def test_every_event_arrives_signed_through_down_500_and_200(live, settings, receiver):
    client, add_user, database = live
    admin = bearer_for(settings, await add_user(Role.ADMIN))
    manager = bearer_for(settings, await add_user(Role.MANAGER))
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        account = await make_account(
            session, partner, principal=Decimal("1000"), interest=Decimal(0), fees=Decimal(0)
        )
    hook = await _subscribe(client, admin, partner.id, receiver.url)
    for n in range(5):
        await record_cash_payment(client, manager, account, f"hook-{n}-{account.id}")
    events = await _deliveries(database)
    assert len(events) == 5

    # Down: the port is closed; every attempt fails and is put off (by seconds here, so that
    # a slow machine does not see a retry fall due inside this one pass).
    patient = settings.model_copy(
        update={"webhook_retry_base_seconds": 5.0, "webhook_retry_cap_seconds": 5.0}
    )
    assert await webhooks.deliver_due(database, patient) == 5
    down = await _deliveries(database)
    assert {(d["status"], d["attempts"], d["response_code"]) for d in down} == {
        ("pending", 1, None)
    }
    assert {d["last_error"] for d in down} == {"ConnectError"}

    # Up, answering 500: retried after the backoff, refused again.
    receiver.start()

    async def all_saw_500() -> bool:
        return all(d["attempts"] >= 2 for d in await _deliveries(database))

    await _until(all_saw_500, 20, lambda: webhooks.deliver_due(database, settings))
    assert {d["response_code"] for d in await _deliveries(database)} == {500}

    # Then 200: everything is delivered.
    receiver.status = 200

    async def all_delivered() -> bool:
        return all(d["status"] == "delivered" for d in await _deliveries(database))

    await _until(all_delivered, 20, lambda: webhooks.deliver_due(database, settings))
    final = await _deliveries(database)
    ok = [(h, b) for s, h, b in receiver.got if s == 200]
    # Every event arrived, each once with a 200, and verifies with the secret.
    assert sorted(h["webhook-id"] for h, _ in ok) == sorted(str(d["event_id"]) for d in final)
    verifier = Webhook(hook["secret"])
    for headers, body in ok:
        payload = verifier.verify(body, headers)
        assert payload["type"] == "payment.recorded"
        assert payload["data"]["external_ref"] == account.external_ref
        assert payload["data"]["amount"] == "10.00"
        assert set(payload["data"]) == {
            "payment_id", "account_id", "external_ref", "amount", "currency", "paid_on",
            "channel", "reference",
        }  # fmt: skip
    # The delivery log, as the partner reads it.
    log = await client.get(
        f"/api/v1/partners/{partner.id}/webhooks/{hook['id']}/deliveries?limit=2", headers=admin
    )
    assert log.status_code == 200, log.text
    page = log.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await client.get(
        f"/api/v1/partners/{partner.id}/webhooks/{hook['id']}/deliveries",
        params={"cursor": page["next_cursor"]},
        headers=admin,
    )
    seen = [d["id"] for d in page["items"]] + [d["id"] for d in rest.json()["items"]]
    assert sorted(seen) == sorted(str(d["id"]) for d in final)
    assert all(d["status"] == "delivered" and d["response_code"] == 200 for d in page["items"])
    attempts = sorted(d["attempts"] for d in final)
    latencies = [d["latency_ms"] for d in final]
    print(
        f"\n5 events: attempts per delivery {attempts} (down, 500…, 200); "
        f"{len(receiver.got)} requests received, {len(ok)} answered 200; "
        f"last-attempt latency ms min {min(latencies)} max {max(latencies)}"
    )


async def test_a_worker_killed_mid_delivery_loses_no_event(
    live, settings, receiver, committed_url, tmp_path
):
    client, add_user, database = live
    admin = bearer_for(settings, await add_user(Role.ADMIN))
    manager = bearer_for(settings, await add_user(Role.MANAGER))
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        account = await make_account(
            session, partner, principal=Decimal("1000"), interest=Decimal(0), fees=Decimal(0)
        )
    hook = await _subscribe(client, admin, partner.id, receiver.url)
    for n in range(3):
        await record_cash_payment(client, manager, account, f"hook-{n}-{account.id}")
    receiver.status = 200
    receiver.hold = threading.Event()
    receiver.start()

    env = {
        **os.environ,
        "CARTERA_ENV": "test",
        "CARTERA_DATABASE_URL": committed_url,
        "CARTERA_DATA_DIR": str(tmp_path),
        "CARTERA_LOG_LEVEL": "WARNING",
        "CARTERA_WEBHOOK_ALLOWED_NETWORKS": json.dumps(["127.0.0.1/32"]),
        "CARTERA_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = _start_worker(env, tmp_path, log)
    try:
        # The receiver holds the first request open: the worker is mid-delivery. Kill it.
        assert await asyncio.to_thread(receiver.arrived.wait, 60), "no delivery arrived"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
        log.close()
    receiver.hold.set()
    await asyncio.sleep(0.2)
    in_flight = [h["webhook-id"] for _, h, _ in receiver.got]
    assert len(in_flight) == 1
    before = await _deliveries(database)
    # The attempt cut off by the kill counted nothing: the delivery is still pending.
    assert sum(d["status"] == "pending" for d in before) == 3
    receiver.hold = None

    # Another worker (here in the test's process) finishes the queue.
    async def all_delivered() -> bool:
        return all(d["status"] == "delivered" for d in await _deliveries(database))

    await _until(all_delivered, 20, lambda: webhooks.deliver_due(database, settings))
    final = await _deliveries(database)
    arrived = [h["webhook-id"] for _, h, _ in receiver.got]
    expected = {str(d["event_id"]) for d in final}
    assert set(arrived) == expected  # nothing lost
    assert arrived.count(in_flight[0]) == 2  # the one cut off came again, same webhook-id
    verifier = Webhook(hook["secret"])
    for _, headers, body in receiver.got:
        verifier.verify(body, headers)
    print(
        f"\nkilled mid-delivery: {len(arrived)} requests for {len(expected)} events "
        f"(the cut-off one twice); attempts {[d['attempts'] for d in final]}"
    )


async def test_the_address_is_checked_again_at_delivery(live, settings, receiver):
    client, add_user, database = live
    admin = bearer_for(settings, await add_user(Role.ADMIN))
    manager = bearer_for(settings, await add_user(Role.MANAGER))
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        account = await make_account(session, partner)
    await _subscribe(client, admin, partner.id, receiver.url)
    await record_cash_payment(client, manager, account, f"hook-0-{account.id}")
    receiver.status = 200
    receiver.start()
    strict = settings.model_copy(update={"webhook_allowed_networks": []})
    assert await webhooks.deliver_due(database, strict) == 1
    (delivery,) = await _deliveries(database)
    assert receiver.got == []
    assert delivery["status"] == "pending"
    assert delivery["last_error"] == "refused: 127.0.0.1 is a loopback address"
