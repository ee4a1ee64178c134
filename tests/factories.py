"""Small async factories: insert model rows directly (no API, no audit events) and flush.

Every argument of the model can be overridden by keyword; the defaults make a valid row
with unique values, so tests state only what matters to them::

    partner = await make_partner(session)
    account = await make_account(session, partner, dpd=45, assigned_collector_id=user.id)

Rows are flushed, not committed: the app's sessions share the test's connection and see
them. Objects read back after the app changed them need ``session.refresh(obj)``.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from app.config import Settings
from app.db import Database
from app.domain.roles import Role, Skill
from app.domain.stages import ProductType, check_bucket_table, stage_for
from app.models.account import Account
from app.models.debtor import ContactPoint, Debtor
from app.models.partner import Partner, PartnerBucket, PartnerClient
from app.models.plan import PaymentPlan, PlanInstallment
from app.models.user import Team, TeamMember, User
from app.security import hash_secret_now
from app.services import ledger
from app.services.auth import client_token

# The password of every test user (conftest makes them with it).
TEST_PASSWORD = "correct-horse-battery"


def _unique(length: int) -> str:
    return secrets.token_hex(length)[:length].upper()


async def make_partner(session: AsyncSession, **overrides: Any) -> Partner:
    """A Mexican partner with its three ``PartnerBucket`` rows (its ``bucket_table``
    overrides applied, defaults elsewhere), as the partners service would write them."""
    fields: dict[str, Any] = {
        "legal_name": f"Financiera {_unique(6)}",
        "tax_id": _unique(13),
        "country": "MX",
        "currency": "MXN",
        "time_zone": "America/Mexico_City",
    }
    partner = Partner(**(fields | overrides))
    session.add(partner)
    await session.flush()
    edges = check_bucket_table(partner.bucket_table, "bucket_table")
    session.add_all(
        PartnerBucket(
            partner_id=partner.id,
            product_type=product.value,
            early_from=e.early,
            mid_from=e.mid,
            late_from=e.late,
            nonaccrual_from=e.nonaccrual,
            chargeoff_from=e.chargeoff,
        )
        for product, e in edges.items()
    )
    await session.flush()
    return partner


async def make_debtor(session: AsyncSession, **overrides: Any) -> Debtor:
    """A debtor with a unique (not check-digit valid) CURP-shaped national id."""
    fields: dict[str, Any] = {
        "national_id_type": "CURP",
        "national_id": _unique(18),
        "first_names": "María Fernanda",
        "last_names": "López García",
    }
    debtor = Debtor(**(fields | overrides))
    session.add(debtor)
    await session.flush()
    return debtor


async def make_account(
    session: AsyncSession, partner: Partner, debtor: Debtor | None = None, **overrides: Any
) -> Account:
    """An active account of ``partner`` (a new debtor unless one is given).

    ``total`` defaults to principal + interest + fees; ``stage`` to the default buckets'
    stage for ``dpd``; ``oldest_unpaid_due_date`` to ``dpd`` days before ``aged_as_of``.
    """
    if debtor is None:
        debtor = await make_debtor(session)
    principal = Decimal(overrides.pop("principal", Decimal("1000.00")))
    interest = Decimal(overrides.pop("interest", Decimal("100.00")))
    fees = Decimal(overrides.pop("fees", Decimal("50.00")))
    dpd = int(overrides.pop("dpd", 0))
    aged_as_of = overrides.pop("aged_as_of", business_today())
    fields: dict[str, Any] = {
        "partner_id": partner.id,
        "external_ref": f"ACC-{_unique(12)}",
        "debtor_id": debtor.id,
        "debtor_first_names": debtor.first_names,
        "debtor_last_names": debtor.last_names,
        "debtor_birth_date": debtor.birth_date,
        "product_type": ProductType.INSTALLMENT.value,
        "currency": partner.currency,
        "original_amount": principal,
        "principal": principal,
        "interest": interest,
        "fees": fees,
        "total": principal + interest + fees,
        "past_due_amount": Decimal("0.00") if dpd <= 0 else min(principal, Decimal("300.00")),
        "oldest_unpaid_due_date": aged_as_of - timedelta(days=dpd) if dpd > 0 else None,
        "dpd": dpd,
        "stage": stage_for(dpd).value,
        "aged_as_of": aged_as_of,
        "status": "active",
        "content_hash": secrets.token_hex(32),
    }
    account = Account(**(fields | overrides))
    session.add(account)
    await session.flush()
    # Opened as a push opens it: its balances are its opening ledger entries.
    session.add_all(
        ledger.opening_entries(
            account, as_of=account.aged_as_of, moment=account.created_at, actor_id="factory"
        )
    )
    await session.flush()
    return account


async def make_team(
    session: AsyncSession,
    lead: User | None = None,
    members: Iterable[User] = (),
    **overrides: Any,
) -> Team:
    """A team led by ``lead`` with ``members`` (each leaves any team it was in)."""
    team = Team(
        **({"name": f"Equipo {_unique(8)}", "lead_id": lead.id if lead else None} | overrides)
    )
    session.add(team)
    await session.flush()
    for member in members:
        await session.execute(delete(TeamMember).where(col(TeamMember.user_id) == member.id))
        session.add(TeamMember(team_id=team.id, user_id=member.id))
    await session.flush()
    return team


# Phone numbers whose area places them in one zone, round the world. The contact law runs on
# the debtor's clock, read from the number itself: tests that need a callable debtor take a
# number where it is daytime now, whenever the suite runs.
_DAYTIME_NUMBERS = (
    ("+525512345678", "America/Mexico_City"),
    ("+12125345678", "America/New_York"),
    ("+551123455678", "America/Sao_Paulo"),
    ("+442071235678", "Europe/London"),
    ("+861012345678", "Asia/Shanghai"),
    ("+81312345678", "Asia/Tokyo"),
    ("+61212345678", "Australia/Sydney"),
)


def daytime_phone(n: int = 78, now: datetime | None = None) -> tuple[str, str]:
    """(E.164 number ending in ``n``'s two digits, its zone) where it is now between 09:00
    and 19:00: any country's contact hours allow a call there for the test's length."""
    moment = now or datetime.now(UTC)
    for number, zone in _DAYTIME_NUMBERS:
        if 9 <= moment.astimezone(ZoneInfo(zone)).hour < 19:
            return f"{number[:-2]}{n:02d}", zone
    raise AssertionError(f"no daytime zone at {moment}")  # pragma: no cover


def business_today(time_zone: str = "America/Mexico_City") -> date:
    """Today in a partner's zone (the factories' partners are in Mexico City): the date a
    partner's business rules judge "the future" by. UTC's date runs ahead of it every
    evening in Mexico."""
    return datetime.now(ZoneInfo(time_zone)).date()


async def make_plan(
    session: AsyncSession, account: Account, proposer: User, amounts: list[str]
) -> PaymentPlan:
    """An active regularization plan on ``account`` with installments of ``amounts``, due
    monthly from a month after the partner's today."""
    today = business_today()
    total = sum((Decimal(a) for a in amounts), Decimal(0))
    plan = PaymentPlan(
        account_id=account.id,
        partner_id=account.partner_id,
        plan_type="regularization",
        status="active",
        terms={
            "plan_type": "regularization",
            "installments": len(amounts),
            "frequency": "monthly",
            "first_due_date": (today + timedelta(days=30)).isoformat(),
        },
        breaches=[],
        agreed_total=total,
        financed=total,
        currency=account.currency,
        quoted_on=today,
        strategy_version=1,
        approver_role="collector",
        proposed_by=proposer.id,
    )
    session.add(plan)
    await session.flush()
    session.add_all(
        PlanInstallment(
            plan_id=plan.id,
            number=n,
            due_date=today + timedelta(days=30 * n),
            amount=Decimal(a),
        )
        for n, a in enumerate(amounts, start=1)
    )
    await session.flush()
    return plan


async def partner_bearer(
    session: AsyncSession, settings: Settings, partner: Partner
) -> dict[str, str]:
    """Headers with a client-credentials token of ``partner`` (its client row made here)."""
    client = PartnerClient(
        partner_id=partner.id,
        client_id=f"test-{uuid.uuid4().hex[:12]}",
        secret_hash="not-used-by-these-tests",
        name="core",
    )
    session.add(client)
    await session.flush()
    issued = client_token(settings, client, datetime.now(UTC))
    return {"Authorization": f"Bearer {issued.access_token}"}


@contextlib.contextmanager
def counted_statements(connection: AsyncConnection) -> Iterator[list[str]]:
    """The SQL statements run on the test's connection inside the block (savepoint
    bookkeeping left out): ``with counted_statements(connection) as statements: ...``."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sync_connection = connection.sync_connection
    assert sync_connection is not None
    event.listen(sync_connection, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(sync_connection, "before_cursor_execute", count)


async def committed_user(database: Database, role: Role) -> User:
    """A staff user committed at once (for tests on real connections), with the tests'
    password and the phone skill if a collector."""
    async with database.sessionmaker() as session, session.begin():
        user = User(
            username=f"{role.value}-{uuid.uuid4().hex[:8]}",
            full_name="Committed",
            role=role.value,
            skills=[Skill.PHONE.value] if role is Role.COLLECTOR else [],
            password_hash=hash_secret_now(TEST_PASSWORD),
        )
        session.add(user)
    return user


def push_rows(refs: Iterable[str], *, first: int = 0) -> list[dict[str, Any]]:
    """JSON rows of a push (``{"rows": push_rows([...])}``): an installment of 1000.00 MXN,
    ten days past due, per external ref; each debtor's RFC is told apart by ``first`` + its
    position."""
    oldest_due = business_today() - timedelta(days=10)
    return [
        {
            "external_ref": ref,
            "product_type": "installment",
            "currency": "MXN",
            "principal": "1000.00",
            "interest": "0",
            "fees": "0",
            "total": "1000.00",
            "oldest_unpaid_due_date": oldest_due.isoformat(),
            "debtor": {
                "first_names": "Rosa",
                "last_names": "Díaz",
                "national_id_type": "RFC",
                "national_id": f"DIRO{date(1970, 1, 1) + timedelta(days=first + i):%y%m%d}",
            },
        }
        for i, ref in enumerate(refs)
    ]


def add_daytime_phone(session: AsyncSession, account: Account, n: int = 78) -> ContactPoint:
    """Give the account's debtor a phone where it is daytime now (:func:`daytime_phone`)."""
    number, zone = daytime_phone(n)
    point = ContactPoint(
        partner_id=account.partner_id,
        account_id=account.id,
        debtor_id=account.debtor_id,
        kind="phone",
        value=number,
        time_zone=zone,
    )
    session.add(point)
    return point


# --- processes and endpoints of tests that run the real commands --------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@dataclass
class Receiver:
    """An HTTP endpoint on 127.0.0.1 (a partner's webhook URL). Each POST is answered with
    what ``answer`` returns for its headers, body and the client's port, or else ``status``;
    while ``hold`` is given and unset, the request is held open. ``got`` keeps every request
    with the status it was answered."""

    answer: Callable[[dict[str, str], bytes, int], int] | None = None
    port: int = field(default_factory=free_port)
    status: int = 500
    hold: threading.Event | None = None
    got: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cartera/events"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = dict(self.headers.items())
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                if receiver.answer is not None:
                    status = receiver.answer(headers, body, self.client_address[1])
                else:
                    status = receiver.status
                receiver.got.append((status, headers, body))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


async def record_cash_payment(
    client: Any, headers: dict[str, str], account: Account, key: str, amount: str = "10.00"
) -> None:
    """``POST /payments`` of a convenience-store cash payment today (``key``: its
    Idempotency-Key), which must be recorded (201)."""
    paid = await client.post(
        "/api/v1/payments",
        json={
            "account_id": str(account.id),
            "amount": amount,
            "currency": account.currency,
            "paid_on": business_today().isoformat(),
            "channel": "cash_store",
        },
        headers={**headers, "Idempotency-Key": key},
    )
    assert paid.status_code == 201, paid.text


def assert_problem(response: Any, status: int, code: str | tuple[str, ...]) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and stable ``code`` (or one of
    ``code`` where a parametrised case may meet either): what a client acts on is the code,
    so a test of a refusal checks both. The problem's body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    codes = (code,) if isinstance(code, str) else code
    assert body["code"] in codes, body
    assert body["type"] == f"urn:cartera:problem:{body['code']}", body
    return body
