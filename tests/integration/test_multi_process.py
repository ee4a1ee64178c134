"""More than one machine (issue 21): two ``cartera serve`` processes and two ``cartera worker``
processes on one database, as a deployment with several API nodes and workers runs them.

Everything goes through the command line and HTTP, and the assertions read what the API
answers and what the tables hold, never how the queue works inside:

- the same push sent to both APIs at once under one ``Idempotency-Key`` is one push; pushes
  are each processed once by the two workers (accounts, opening ledger entries, one
  processing each);
- the same payment sent to both APIs at once (one ``Idempotency-Key``, or one payer
  reference under different keys) is applied once;
- each event reaches a partner's receiver once, sent by a worker (the deliveries are drained
  by a periodic job, which one worker takes per tick);
- twenty ``next`` calls spread over both APIs never hand out one account twice;
- failed logins spread over both APIs lock at the threshold one process would lock at, and
  the debtor portal's per-address limit counts the attempts made on either API.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import text

from app import migrations, vault
from app.config import Settings
from app.db import Database, open_database
from app.domain.roles import Role
from app.models.user import User
from tests.conftest import TEST_PASSWORD, bearer_for
from tests.factories import (
    Receiver,
    add_daytime_phone,
    business_today,
    committed_user,
    free_port,
    make_account,
    make_partner,
    push_rows,
    stop_process,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
API = "/api/v1"
# Set for the processes here, so that the test does not lean on a default.
LOGIN_MAX_FAILURES = 4
# The debtor portal's session attempts one address may make in any minute
# (app/routers/portal.py).
PORTAL_ATTEMPTS_PER_MINUTE = 20


@dataclass
class Cluster:
    """Two API processes and two workers on one committed database."""

    apis: list[str]
    workers: list[subprocess.Popen[bytes]]
    database: Database
    worker_logs: list[Path]

    def api(self, n: int) -> str:
        """The API the ``n``-th request of a burst goes to: they alternate."""
        return self.apis[n % len(self.apis)]

    async def scalar(self, query: str, **params: Any) -> Any:
        async with self.database.sessionmaker() as session:
            return await session.scalar(text(query), params)

    async def rows(self, query: str, **params: Any) -> list[Any]:
        async with self.database.sessionmaker() as session:
            return list((await session.execute(text(query), params)).all())

    async def user(self, role: Role) -> User:
        return await committed_user(self.database, role)


async def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                said = await asyncio.to_thread(log.read_text)
                raise AssertionError(f"{base} exited while starting:\n{said[-3000:]}")
            try:
                if (await client.get("/healthz")).status_code == 200 and (
                    await client.get("/readyz")
                ).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{base} did not get ready in 120 s")


@pytest.fixture(scope="module")
def shared_url(database_server: Any) -> Iterator[str]:
    """One database of the module's own, migrated, that every process here shares."""
    url = database_server.create_database("cartera_multi")
    migrations.upgrade(url)
    yield url
    database_server.drop_database(url)


@pytest.fixture(scope="module")
async def cluster(
    shared_url: str, settings: Settings, tmp_path_factory: Any
) -> AsyncIterator[Cluster]:
    url = shared_url
    folder = tmp_path_factory.mktemp("multi")
    env = {
        **os.environ,
        # This checkout's code, whichever checkout the virtualenv was installed from.
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "CARTERA_ENV": "test",
        "CARTERA_DATABASE_URL": url,
        "CARTERA_DATA_DIR": str(folder),
        "CARTERA_WORKER_IN_PROCESS": "false",
        "CARTERA_DB_POOL_SIZE": "5",
        "CARTERA_DB_MAX_OVERFLOW": "5",
        # Rows validated in a thread of the worker: four processes share the machine here.
        "CARTERA_INTAKE_WORKERS": "0",
        "CARTERA_LOGIN_MAX_FAILURES": str(LOGIN_MAX_FAILURES),
        "CARTERA_WEBHOOK_ALLOWED_NETWORKS": json.dumps(["127.0.0.1/32"]),
        "CARTERA_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "CARTERA_WEBHOOK_RETRY_CAP_SECONDS": "0.5",
    }
    started: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(
        name: str, *arguments: str, log_level: str = "WARNING"
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = folder / f"{name}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [str(BIN / "cartera"), *arguments],
            cwd=folder,  # no .env of the repository's
            env={**env, "CARTERA_LOG_LEVEL": log_level, "CARTERA_LOG_JSON": "true"},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        started.append((process, log))
        return process, log_path

    vault.configure(settings)
    database = open_database(url, settings)
    try:
        apis = []
        for n in range(2):
            port = free_port()
            process, log_path = start(f"api-{n}", "serve", "--port", str(port))
            apis.append((f"http://127.0.0.1:{port}", process, log_path))
        # The workers at the default level: what they log per job is checked.
        workers = [start(f"worker-{n}", "worker", log_level="INFO") for n in range(2)]
        for base, process, log_path in apis:
            await _wait_ready(base, process, log_path)
        yield Cluster(
            [base for base, _, _ in apis],
            [process for process, _ in workers],
            database,
            [log_path for _, log_path in workers],
        )
        # Nothing crashed along the way (a crash would also void "exactly once" above).
        assert [p.poll() for p, _ in started] == [None] * len(started)
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.terminate()
        for process, log in started:
            stop_process(process)
            log.close()
        await database.dispose()


async def _until(done: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await done():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"not reached in {seconds} s: {what}")


Call = tuple[str, str, dict[str, Any]]


async def _post_all(calls: list[Call]) -> list[httpx.Response]:
    """POST every (base, path, keyword arguments) at once, each on a connection of its own."""

    async def one(base: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            return await client.post(path, **kwargs)

    return list(await asyncio.gather(*(one(b, p, k) for b, p, k in calls)))


def _codes(answers: list[httpx.Response]) -> list[tuple[int, str | None]]:
    """(status, problem code) of each answer; the code is None for a success."""
    return [
        (a.status_code, a.json().get("code") if a.status_code >= 400 else None) for a in answers
    ]


# --- pushes -------------------------------------------------------------------------------


async def test_one_key_is_one_push_and_each_push_is_processed_once(cluster, settings):
    headers = bearer_for(settings, await cluster.user(Role.MANAGER))
    async with cluster.database.sessionmaker() as session, session.begin():
        partners = [await make_partner(session) for _ in range(3)]

    # The same push under one key, to both APIs at once (twice each): one push.
    key = f"multi-{uuid.uuid4().hex}"
    same = {"rows": push_rows(["SAME-1", "SAME-2"], first=90)}
    path = f"{API}/partners/{partners[0].id}/assignments"
    answers = await _post_all(
        [
            (cluster.api(n), path, {"json": same, "headers": {**headers, "Idempotency-Key": key}})
            for n in range(4)
        ]
    )
    assert _codes(answers) == [(202, None)] * 4, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == [
        "",
        *["true"] * 3,
    ]
    stored = await cluster.scalar(
        "SELECT count(*) FROM assignment WHERE partner_id = :p AND idempotency_key = :k",
        p=partners[0].id,
        k=key,
    )
    assert stored == 1

    # Six pushes of five rows (two per partner), sent to both APIs at once.
    answers_many = await _post_all(
        [
            (
                cluster.api(n),
                f"{API}/partners/{partners[n % 3].id}/assignments",
                {
                    "json": {"rows": push_rows((f"P{n}-{i}" for i in range(5)), first=10 * n)},
                    "headers": {**headers, "Idempotency-Key": f"multi-{uuid.uuid4().hex}"},
                },
            )
            for n in range(6)
        ]
    )
    assert _codes(answers_many) == [(202, None)] * 6, [a.text for a in answers_many]
    rows_of = {answers[0].json()["id"]: 2} | {a.json()["id"]: 5 for a in answers_many}

    async def all_finished() -> bool:
        found = await cluster.rows(
            "SELECT status FROM assignment WHERE id = ANY(CAST(:ids AS uuid[]))",
            ids=list(rows_of),
        )
        return len(found) == len(rows_of) and all(
            r.status in ("completed", "failed") for r in found
        )

    await _until(all_finished, 180, "the workers processed every push")

    async with httpx.AsyncClient(timeout=30) as client:
        for n, (assignment_id, rows) in enumerate(rows_of.items()):
            read = await client.get(
                f"{cluster.api(n)}{API}/assignments/{assignment_id}", headers=headers
            )
            assert read.status_code == 200, read.text
            body = read.json()
            assert (body["status"], body["counts"]["created"]) == ("completed", rows), body
    # Each push was processed once.
    processed = Counter(
        r.entity_id
        for r in await cluster.rows(
            "SELECT entity_id FROM audit_event"
            " WHERE action = 'assignment.processed' AND entity_id = ANY(:ids)",
            ids=list(rows_of),
        )
    )
    assert processed == dict.fromkeys(rows_of, 1)
    # The workers log JSON lines: one per push, and none of procrastinate's two per job
    # (started, ended) at the default level.
    logged = "".join([await asyncio.to_thread(log.read_text) for log in cluster.worker_logs])
    records = [json.loads(line) for line in logged.splitlines()]
    pushes = [r["id"] for r in records if r["event"] == "assignment processed"]
    assert Counter(i for i in pushes if i in rows_of) == dict.fromkeys(rows_of, 1)
    assert not [r for r in records if r["logger"].startswith("procrastinate")], records
    # Accounts: 2 + 5 + 5 for the first partner, 5 + 5 for the others; each opened once
    # (one opening entry of its principal, 1000.00).
    for n, partner in enumerate(partners):
        accounts = await cluster.scalar(
            "SELECT count(*) FROM account WHERE partner_id = :p", p=partner.id
        )
        assert accounts == (12 if n == 0 else 10)
        openings = await cluster.rows(
            "SELECT account_id, count(*) AS entries, sum(amount_minor) AS minor"
            " FROM ledger_entry"
            " WHERE partner_id = :p AND kind = 'opening' AND component = 'principal'"
            " GROUP BY account_id",
            p=partner.id,
        )
        assert len(openings) == accounts
        assert {(r.entries, r.minor) for r in openings} == {(1, 100_000)}


# --- payments -----------------------------------------------------------------------------


async def _account(cluster: Cluster) -> Any:
    """An account of a new partner owing 1000.00 of principal alone."""
    async with cluster.database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        return await make_account(
            session, partner, principal=Decimal("1000.00"), interest=Decimal(0), fees=Decimal(0)
        )


def _payment(account: Any, **extra: Any) -> dict[str, Any]:
    return {
        "account_id": str(account.id),
        "amount": "25.00",
        "currency": "MXN",
        "paid_on": business_today().isoformat(),
        "channel": "cash_store",
        **extra,
    }


async def _principal_paid(cluster: Cluster, account: Any) -> list[Any]:
    """(payment id, principal minor units) of each payment on the account's ledger."""
    return await cluster.rows(
        "SELECT payment_id, sum(amount_minor) AS minor FROM ledger_entry"
        " WHERE account_id = :a AND kind = 'payment' AND component = 'principal'"
        " GROUP BY payment_id",
        a=account.id,
    )


async def test_one_payment_sent_to_both_apis_at_once_applies_once(cluster, settings):
    headers = bearer_for(settings, await cluster.user(Role.MANAGER))
    keyed = await _account(cluster)
    key = f"pay-{uuid.uuid4().hex}"
    answers = await _post_all(
        [
            (
                cluster.api(n),
                f"{API}/payments",
                {"json": _payment(keyed), "headers": {**headers, "Idempotency-Key": key}},
            )
            for n in range(4)
        ]
    )
    assert sorted(_codes(answers)) == [(200, None)] * 3 + [(201, None)], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    (paid,) = await _principal_paid(cluster, keyed)
    assert (str(paid.payment_id), paid.minor) == (answers[0].json()["id"], -2500)

    # One payer reference under four different keys: the first one in wins, the rest are
    # refused as a reference used before.
    referenced = await _account(cluster)
    reference = f"REF-{uuid.uuid4().hex[:12]}"
    answers = await _post_all(
        [
            (
                cluster.api(n),
                f"{API}/payments",
                {
                    "json": _payment(referenced, payer_reference=reference),
                    "headers": {**headers, "Idempotency-Key": f"pay-{uuid.uuid4().hex}"},
                },
            )
            for n in range(4)
        ]
    )
    assert sorted(_codes(answers)) == [(201, None)] + [(409, "payer_reference_used")] * 3
    (created,) = [a for a in answers if a.status_code == 201]
    (paid,) = await _principal_paid(cluster, referenced)
    assert (str(paid.payment_id), paid.minor) == (created.json()["id"], -2500)
    totals = await cluster.rows(
        "SELECT id, total FROM account WHERE id IN (:a, :b)", a=keyed.id, b=referenced.id
    )
    assert {r.total for r in totals} == {Decimal("975.00")}


# --- webhook deliveries -------------------------------------------------------------------


class Senders:
    """Which ``cartera worker`` process each request came from, found by the connection's
    local port among the workers' connections; each answer is a 200 after ``delay`` (so
    that one worker cannot finish the queue before the other looks at it)."""

    def __init__(self, workers: list[int], delay: float = 0.3) -> None:
        self.workers = workers
        self.delay = delay
        self.got: list[tuple[str, int | None]] = []

    def sender(self, port: int) -> int | None:
        for pid in self.workers:
            try:
                connections = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            if any(c.laddr and c.laddr.port == port for c in connections):
                return pid
        return None

    def answer(self, headers: dict[str, str], body: bytes, port: int) -> int:
        sender = self.sender(port)
        time.sleep(self.delay)
        self.got.append((headers["webhook-id"], sender))
        return 200


async def test_each_event_is_delivered_once_by_a_worker(cluster, settings):
    admin = bearer_for(settings, await cluster.user(Role.ADMIN))
    manager = bearer_for(settings, await cluster.user(Role.MANAGER))
    account = await _account(cluster)
    senders = Senders([w.pid for w in cluster.workers])
    receiver = Receiver(senders.answer)
    receiver.start()
    try:
        async with httpx.AsyncClient(base_url=cluster.api(0), timeout=30) as client:
            hook = await client.post(
                f"{API}/partners/{account.partner_id}/webhooks",
                json={
                    "url": receiver.url,
                    "event_types": ["payment.recorded"],
                },
                headers=admin,
            )
        assert hook.status_code == 201, hook.text
        events = 16
        answers = await _post_all(
            [
                (
                    cluster.api(n),
                    f"{API}/payments",
                    {
                        "json": _payment(account, amount="10.00"),
                        "headers": {**manager, "Idempotency-Key": f"hook-{uuid.uuid4().hex}"},
                    },
                )
                for n in range(events)
            ]
        )
        assert _codes(answers) == [(201, None)] * events, [a.text for a in answers]

        async def all_delivered() -> bool:
            statuses = await cluster.rows(
                "SELECT d.status FROM webhook_delivery d"
                " JOIN webhook_subscription s ON s.id = d.subscription_id"
                " WHERE s.partner_id = :p",
                p=account.partner_id,
            )
            return len(statuses) == events and {s.status for s in statuses} == {"delivered"}

        await _until(all_delivered, 120, "every event delivered")
        # Nothing is sent after the deliveries are marked delivered.
        await asyncio.sleep(1.5)
    finally:
        receiver.stop()
    expected = {
        str(r.event_id)
        for r in await cluster.rows(
            "SELECT d.event_id FROM webhook_delivery d"
            " JOIN webhook_subscription s ON s.id = d.subscription_id WHERE s.partner_id = :p",
            p=account.partner_id,
        )
    }
    arrived = Counter(event_id for event_id, _ in senders.got)
    assert arrived == dict.fromkeys(expected, 1)
    by_worker = Counter(sender for _, sender in senders.got)
    assert by_worker and set(by_worker) <= set(senders.workers), by_worker


# --- worklist claims ----------------------------------------------------------------------


async def _assign(cluster: Cluster, collector: User, count: int) -> set[str]:
    """``count`` accounts of the collector, each with a phone where it is daytime now and
    scored alike (every session wants the same top)."""
    made = set()
    async with cluster.database.sessionmaker() as session, session.begin():
        partner = await make_partner(session)
        for n in range(count):
            account = await make_account(
                session, partner, assigned_collector_id=collector.id, dpd=35
            )
            add_daytime_phone(session, account, n)
            made.add(str(account.id))
    return made


async def test_twenty_next_calls_over_both_apis_never_claim_an_account_twice(cluster, settings):
    plenty, few = await cluster.user(Role.COLLECTOR), await cluster.user(Role.COLLECTOR)
    accounts = {
        plenty.id: await _assign(cluster, plenty, 12),
        few.id: await _assign(cluster, few, 6),
    }
    callers = [plenty, few] * 10
    answers = await _post_all(
        [
            (cluster.api(n // 2), f"{API}/worklists/me/next", {"headers": bearer_for(settings, c)})
            for n, c in enumerate(callers)
        ]
    )
    got: dict[uuid.UUID, list[str]] = {plenty.id: [], few.id: []}
    for caller, answer in zip(callers, answers, strict=True):
        assert answer.status_code in (200, 204), answer.text
        if answer.status_code == 200:
            got[caller.id].append(answer.json()["account_id"])
    # Ten sessions each: the one with twelve accounts gets ten different ones, the one with
    # six gets all six and four "nothing now".
    assert len(got[plenty.id]) == len(set(got[plenty.id])) == 10
    assert set(got[plenty.id]) <= accounts[plenty.id]
    assert sorted(got[few.id]) == sorted(accounts[few.id])
    claims = await cluster.rows(
        "SELECT account_id, collector_id FROM worklist_claim WHERE collector_id IN (:a, :b)",
        a=plenty.id,
        b=few.id,
    )
    assert sorted((str(r.account_id), r.collector_id) for r in claims) == sorted(
        (account_id, collector) for collector, ids in got.items() for account_id in ids
    )


# --- login lockout and the portal's per-address limit -------------------------------------


async def _login(base: str, username: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return await client.post(
            f"{API}/auth/token", data={"username": username, "password": password}
        )


async def test_failed_logins_over_both_apis_lock_at_the_one_process_threshold(cluster):
    user = await cluster.user(Role.COLLECTOR)
    # One failure short of the threshold, alternating APIs: the right password still works
    # (and, being a success, starts the count again).
    for n in range(LOGIN_MAX_FAILURES - 1):
        failed = await _login(cluster.api(n), user.username, "wrong-password")
        assert _codes([failed]) == [(401, "invalid_credentials")]
    assert (await _login(cluster.api(1), user.username, TEST_PASSWORD)).status_code == 200
    # The threshold, alternating APIs: locked on both, the right password included.
    for n in range(LOGIN_MAX_FAILURES):
        failed = await _login(cluster.api(n), user.username, "wrong-password")
        assert _codes([failed]) == [(401, "invalid_credentials")]
    for base in cluster.apis:
        locked = await _login(base, user.username, TEST_PASSWORD)
        assert _codes([locked]) == [(429, "login_locked")]
        assert int(locked.headers["Retry-After"]) > 0
    recorded = await cluster.scalar(
        "SELECT count(*) FROM login_attempt WHERE username = :u AND NOT succeeded",
        u=user.username,
    )
    assert recorded == 2 * LOGIN_MAX_FAILURES - 1


async def test_the_portal_limit_per_address_counts_attempts_on_every_api(cluster):
    body = {"token": "not-a-link", "birth_date": "1980-01-01"}
    for n in range(PORTAL_ATTEMPTS_PER_MINUTE):
        answer = (await _post_all([(cluster.api(n), "/portal/v1/sessions", {"json": body})]))[0]
        assert _codes([answer]) == [(401, "portal_link_invalid")], n
    for base in cluster.apis:
        refused = (await _post_all([(base, "/portal/v1/sessions", {"json": body})]))[0]
        assert _codes([refused]) == [(429, "rate_limited")]
        assert 0 < int(refused.headers["Retry-After"]) <= 60
