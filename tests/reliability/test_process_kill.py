"""Fault (issue 9): the API process is killed (SIGKILL, no shutdown) while requests are in
flight, then started again.

A real ``cartera serve`` process on a database of its own takes 16 concurrent writers, each
creating teams and posting payments (ledger row, balance, audit event) as fast as it is
answered. Once at least 60 writes have been answered, the process is killed. Afterwards:

- every write that got a 2xx is in the database, with its audit event, and each account's
  balance is its opening balance less exactly the payments stored on it;
- the audit chain verifies (a transaction cut off by the kill left no half-written link);
- the server starts again on the same database, and a payment whose answer was lost to the
  kill, sent again with the same ``Idempotency-Key``, is stored exactly once (replayed if it
  had committed, created if it had not).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlmodel import col

from app.domain.roles import Role
from app.models.account import Account
from app.models.payment import Payment
from app.models.user import Team
from app.services import audit
from tests.conftest import bearer_for
from tests.factories import business_today, free_port, make_account, make_partner

WRITERS = 16
ANSWERED_BEFORE_KILL = 60
OPENING = Decimal("100000.00")
BIN = Path(sys.executable).parent


@dataclass
class Ledger:
    """What the writers were told: ids answered 2xx, and payment keys left unanswered."""

    teams: list[str] = field(default_factory=list)
    payments: list[str] = field(default_factory=list)
    unanswered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self) -> int:
        return len(self.teams) + len(self.payments)


@pytest.fixture
def serve(committed_url: str, tmp_path: Path) -> Iterator[Any]:
    """Start ``cartera serve`` on the committed database (a fresh port each time); yields a
    starter, and kills whatever is still running afterwards."""
    started: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start() -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        env = {
            **os.environ,
            "CARTERA_ENV": "test",
            "CARTERA_DATABASE_URL": committed_url,
            "CARTERA_DATA_DIR": str(tmp_path),
            "CARTERA_WORKER_IN_PROCESS": "false",
            "CARTERA_LOG_LEVEL": "WARNING",
        }
        log = (tmp_path / f"server-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [str(BIN / "cartera"), "serve", "--port", str(port)],
            cwd=tmp_path,  # no .env of the repository's
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        started.append((process, log))
        return process, f"http://127.0.0.1:{port}"

    yield start
    for process, log in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        log.close()


async def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        for _ in range(600):
            assert process.poll() is None, "the server exited while starting"
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not get ready in 60 s")


async def _writer(
    number: int,
    base: str,
    headers: dict[str, str],
    accounts: list[Account],
    ledger: Ledger,
) -> None:
    """Write until the server stops answering: a team, then a payment, and again."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for turn in range(10_000):
            key = f"kill-{number}-{turn}-{uuid.uuid4().hex[:8]}"
            account = accounts[(number + turn) % len(accounts)]
            payment = {
                "account_id": str(account.id),
                "amount": "1.25",
                "currency": "MXN",
                "paid_on": business_today().isoformat(),
                "channel": "cash_store",
            }
            team = {"name": f"Equipo {key}"}
            try:
                made = await client.post("/api/v1/teams", json=team, headers=headers)
            except httpx.TransportError:
                return
            _note(ledger, made, "teams", key)
            try:
                paid = await client.post(
                    "/api/v1/payments",
                    json=payment,
                    headers={**headers, "Idempotency-Key": key},
                )
            except httpx.TransportError:
                ledger.unanswered.append((key, payment))
                return
            _note(ledger, paid, "payments", key)


def _note(ledger: Ledger, response: httpx.Response, kind: str, key: str) -> None:
    if response.status_code == 201:
        getattr(ledger, kind).append(response.json()["id"])
        if ledger.count() >= ANSWERED_BEFORE_KILL:
            ledger.answered.set()
    else:
        ledger.refused.append(f"{kind} {key}: {response.status_code} {response.text[:200]}")


async def test_the_api_killed_mid_requests_keeps_every_answered_write(serve, live, settings):
    _, add_user, database = live  # the committed database, a pool on it, and a user maker
    manager = await add_user(Role.MANAGER)
    headers = bearer_for(settings, manager)
    async with database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        accounts = [
            await make_account(
                session, partner, principal=OPENING, interest=Decimal(0), fees=Decimal(0)
            )
            for _ in range(4)
        ]

    process, base = serve()
    await _wait_ready(base, process)
    ledger = Ledger()
    writers = [
        asyncio.create_task(_writer(n, base, headers, accounts, ledger)) for n in range(WRITERS)
    ]
    await asyncio.wait_for(ledger.answered.wait(), timeout=120)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    await asyncio.wait_for(asyncio.gather(*writers), timeout=60)

    assert ledger.refused == []
    # The kill landed with requests in flight: some payments never got an answer.
    assert ledger.unanswered, "no request was in flight when the process died"

    async with database.sessionmaker() as session:
        teams = set(
            await session.scalars(
                select(col(Team.id)).where(col(Team.id).in_([uuid.UUID(i) for i in ledger.teams]))
            )
        )
        stored = (
            await session.scalars(
                select(Payment).where(col(Payment.account_id).in_([a.id for a in accounts]))
            )
        ).all()
        balances = {
            a.id: (await session.get(Account, a.id)).total  # type: ignore[union-attr]
            for a in accounts
        }
        audited = set(
            await session.scalars(
                text("SELECT entity_id FROM audit_event WHERE entity_id = ANY(:ids)").bindparams(
                    ids=ledger.teams + ledger.payments
                )
            )
        )
    # Every 2xx is in the database, with its audit event.
    assert teams == {uuid.UUID(i) for i in ledger.teams}
    assert set(ledger.payments) <= {str(p.id) for p in stored}
    assert audited == set(ledger.teams) | set(ledger.payments)
    # Each balance is the opening balance less exactly the payments stored on it.
    for account in accounts:
        paid = sum((p.amount for p in stored if p.account_id == account.id), Decimal(0))
        assert balances[account.id] == OPENING - paid
    async with database.engine.connect() as connection:
        checked, broken = await audit.verify_chain(connection)
    assert broken is None, broken
    assert checked >= len(audited)

    # Started again: the lost answers are retried with their keys, each stored once.
    process, base = serve()
    await _wait_ready(base, process)
    replayed = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for key, payment in ledger.unanswered:
            again = await client.post(
                "/api/v1/payments", json=payment, headers={**headers, "Idempotency-Key": key}
            )
            assert again.status_code in (200, 201), again.text
            replayed += again.headers.get("Idempotent-Replayed") == "true"
    async with database.sessionmaker() as session:
        per_key = dict(
            (
                await session.execute(
                    select(col(Payment.idempotency_key), func.count())
                    .where(col(Payment.idempotency_key).in_([k for k, _ in ledger.unanswered]))
                    .group_by(col(Payment.idempotency_key))
                )
            ).all()
        )
    assert per_key == {key: 1 for key, _ in ledger.unanswered}
    print(
        f"\nkilled after {len(ledger.teams)} teams and {len(ledger.payments)} payments answered;"
        f" {len(ledger.unanswered)} payments in flight ({replayed} had committed), each stored"
        " once after the retry"
    )
