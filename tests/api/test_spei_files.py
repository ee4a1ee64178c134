"""SPEI statements through the API: upload, the job, deposits matched by CLABE (and every
reason one is not), duplicates within and across statements, payer names sealed and masked,
deposits applied by hand, partner isolation, bad input, and 1,000 deposits to the cent."""

from __future__ import annotations

import csv
import io
import random
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlmodel import col, func, select

from app.domain.payment_rails import ClabeIssuer
from app.domain.roles import Role
from app.models.account import Account
from app.models.audit import AuditEvent
from app.models.payment import Payment
from app.models.payment_file import PaymentFile, PaymentFileChunk, PaymentFileLine
from app.services import ledger
from app.services import payment_files as service
from app.services.payment_rails import clabe_issuer
from tests.factories import (
    assert_problem,
    business_today,
    make_account,
    make_partner,
    partner_bearer,
)

TODAY = business_today()
DAY = (TODAY - timedelta(days=1)).isoformat()
HEADER = ["amount", "date", "beneficiary_clabe", "tracking_key", "payer_name", "payer_bank"]


def csv_of(lines: list[list[str]], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue().encode()


@pytest.fixture
def issuer(settings) -> ClabeIssuer:
    return clabe_issuer(settings)


def clabe_of(issuer: ClabeIssuer, account: Account) -> str:
    assert account.payment_serial is not None
    return issuer.clabe(account.payment_serial)


@pytest.fixture
async def desk(session, settings, make_user, auth_headers):
    """A Mexican partner with two accounts 300 past due (1,150 owed each), a recalled and a
    closed one, its system; a second partner with an account and its system; staff."""
    partner = await make_partner(session)
    other = await make_partner(session)
    first = await make_account(session, partner, dpd=40)
    second = await make_account(session, partner, dpd=40)
    recalled = await make_account(session, partner, dpd=40, status="recalled")
    closed = await make_account(session, partner, status="closed")
    foreign = await make_account(session, other, dpd=40)
    system = await partner_bearer(session, settings, partner)
    other_system = await partner_bearer(session, settings, other)
    await session.commit()
    return {
        "partner": partner,
        "other": other,
        "first": first,
        "second": second,
        "recalled": recalled,
        "closed": closed,
        "foreign": foreign,
        "system": system,
        "other_system": other_system,
        "admin": auth_headers(await make_user(Role.ADMIN)),
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
        "collector": auth_headers(await make_user(Role.COLLECTOR)),
    }


async def send(client, desk, body: bytes, *, who: str = "system", partner=None,
               media_type: str = "text/csv"):  # fmt: skip
    partner = partner or desk["partner"]
    return await client.post(
        f"/api/v1/partners/{partner.id}/spei-files",
        content=body,
        headers={**desk[who], "Content-Type": media_type, "Idempotency-Key": uuid.uuid4().hex},
    )


async def run(session, response) -> PaymentFile:
    assert response.status_code == 202, response.text
    done = await service.process_file(session, uuid.UUID(response.json()["id"]))
    await session.commit()
    return done


async def deposits(client, headers, file_id, path: str = "deposits") -> list[dict]:
    response = await client.get(f"/api/v1/spei-files/{file_id}/{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def fresh(session, account: Account) -> Account:
    return await session.get(Account, account.id, populate_existing=True)


async def test_a_statement_is_reconciled_deposit_by_deposit(client, session, desk, issuer):
    first, second = desk["first"], desk["second"]
    good = clabe_of(issuer, first)
    bad_digit = good[:17] + str((int(good[17]) + 1) % 10)
    unknown = issuer.clabe(9_999_999_999)
    other_bank = ClabeIssuer("012", issuer.plaza, "BBVA").clabe(first.payment_serial or 0)
    body = csv_of([
        ["100.00", DAY, good, "MBAN01000001", "Juan Pérez López", "BBVA MEXICO"],  # 2 applied
        ["200.00", DAY, clabe_of(issuer, second), "mban01000002", "Ana Ruiz", ""],  # 3 applied
        ["100.00", DAY, good, "MBAN01000001", "Juan Pérez López", "BBVA MEXICO"],  # 4 duplicate
        ["50.00", DAY, bad_digit, "MBAN01000003", "Luis Mora", "BANORTE"],         # 5 unmatched
        ["60.00", DAY, unknown, "MBAN01000004", "", ""],                           # 6 unmatched
        ["70.00", DAY, clabe_of(issuer, desk["foreign"]), "MBAN01000005", "", ""], # 7 unmatched
        ["80.00", DAY, clabe_of(issuer, desk["recalled"]), "MBAN01000006", "", ""],# 8 unmatched
        ["90.00", DAY, clabe_of(issuer, desk["closed"]), "MBAN01000007", "", ""],  # 9 unmatched
        ["10.00", DAY, other_bank, "MBAN01000008", "", ""],                        # 10 unmatched
        ["abc", DAY, good, "MBAN01000009", "", ""],                                # 11 rejected
        ["5.00", DAY, "12345", "MBAN01000010", "", ""],                            # 12 rejected
    ])  # fmt: skip
    response = await send(client, desk, body)
    assert response.headers["Location"] == f"/api/v1/spei-files/{response.json()['id']}"
    done = await run(session, response)
    assert done.status == "completed_with_errors"

    read = await client.get(response.headers["Location"], headers=desk["system"])
    data = read.json()
    assert data["counts"] == {
        "received": 11, "matched": 0, "matched_by_reference": 2, "matched_by_hand": 0,
        "unmatched": 6, "duplicates": 1, "rejected": 2,
    }  # fmt: skip
    assert data["amounts"] == {"applied": "300.00", "unmatched": "360.00", "currency": "MXN"}

    by_row = {d["row_number"]: d for d in await deposits(client, desk["system"], done.id)}
    assert by_row[2]["account_id"] == str(first.id)
    assert by_row[3]["tracking_key"] == "MBAN01000002"
    assert by_row[4]["detail"] == "the payer reference is also on line 2"
    assert by_row[5]["detail"] == "the CLABE's check digit does not match"
    assert by_row[6]["detail"] == "no account of the partner has this CLABE"
    # Another partner's account reads as no account: the statement learns nothing of it.
    assert by_row[7]["detail"] == "no account of the partner has this CLABE"
    assert by_row[7]["account_id"] is None
    assert by_row[8]["detail"] == "the account was recalled by the partner"
    assert by_row[9]["detail"] == "the account is closed"
    assert by_row[10]["detail"] == "the CLABE is not one the collection bank issued for the agency"
    assert "amount" in by_row[11]["detail"]
    assert "beneficiary_clabe" in by_row[12]["detail"]
    # Payer names are masked in listings...
    assert by_row[2]["payer_name_masked"] == "J*** P*** L***"
    assert by_row[2]["payer_bank"] == "BBVA MEXICO"
    assert "Juan" not in read.text + str(by_row)
    # ... and sealed at rest.
    raw = (
        await session.execute(
            text("SELECT payer_name FROM payment_file_line WHERE payment_file_id = :f"
                 " AND row_number = 2"), {"f": done.id},
        )
    ).scalar_one()  # fmt: skip
    assert isinstance(raw, bytes) and b"Juan" not in raw
    line = await session.get(PaymentFileLine, (done.id, 2))
    assert line is not None and line.payer_name == "Juan Pérez López"

    unmatched = await deposits(client, desk["system"], done.id, "unmatched")
    assert [d["row_number"] for d in unmatched] == [5, 6, 7, 8, 9, 10]

    # Applied through the payment path: past due first, a SPEI payment with its key.
    account = await fresh(session, first)
    assert (account.total, account.past_due_amount) == (Decimal("1050.00"), Decimal("200.00"))
    made = (
        await session.scalars(
            select(Payment).where(col(Payment.payment_file_id) == done.id).order_by(Payment.amount)
        )
    ).all()
    assert [(p.amount, p.channel, p.payer_reference) for p in made] == [
        (Decimal("100.00"), "spei", "MBAN01000001"),
        (Decimal("200.00"), "spei", "MBAN01000002"),
    ]
    for untouched in ("foreign", "recalled", "closed"):
        before = desk[untouched]
        assert (await fresh(session, before)).total == before.total
    assert (await ledger.verify(session)).ok


async def test_a_statement_sent_again_applies_nothing_new(client, session, desk, issuer):
    body = csv_of([["100.00", DAY, clabe_of(issuer, desk["first"]), "K1", "Ana", ""]])
    await run(session, await send(client, desk, body))
    again = await run(session, await send(client, desk, body))
    assert (again.duplicates, again.matched_by_reference, again.applied_amount) == (
        1, 0, Decimal("0"),
    )  # fmt: skip
    # One payment carries the key, whatever the number of statements naming it.
    count = await session.scalar(
        select(func.count()).select_from(Payment).where(col(Payment.payer_reference) == "K1")
    )
    assert count == 1
    assert (await fresh(session, desk["first"])).total == Decimal("1050.00")


async def apply(client, headers, file_id, row: int, account, note: str = "Called the payer"):
    return await client.post(
        f"/api/v1/spei-files/{file_id}/deposits/{row}/apply",
        json={"account_id": str(account.id), "note": note},
        headers=headers,
    )


class TestApplyingAnUnmatchedDepositByHand:
    async def sent(self, client, session, desk, issuer) -> PaymentFile:
        body = csv_of([
            ["75.50", DAY, issuer.clabe(9_999_999_998), "H1", "Eva Solís", "HSBC"],  # 2
            ["20.00", DAY, issuer.clabe(9_999_999_997), "H2", "", ""],               # 3
        ])  # fmt: skip
        return await run(session, await send(client, desk, body))

    async def test_it_is_applied_once_and_audited(self, client, session, desk, issuer):
        done = await self.sent(client, session, desk, issuer)
        second = desk["second"]
        response = await apply(client, desk["system"], done.id, 2, second)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["outcome"], body["account_id"]) == ("matched_by_hand", str(second.id))
        payment = await session.get(Payment, uuid.UUID(body["payment_id"]))
        assert payment is not None
        assert (payment.amount, payment.channel, payment.payer_reference) == (
            Decimal("75.50"), "spei", "H1",
        )  # fmt: skip
        account = await fresh(session, second)
        assert (account.total, account.past_due_amount) == (Decimal("1074.50"), Decimal("224.50"))
        read = await client.get(f"/api/v1/spei-files/{done.id}", headers=desk["system"])
        assert read.json()["amounts"] == {
            "applied": "75.50", "unmatched": "20.00", "currency": "MXN",
        }  # fmt: skip
        again = await apply(client, desk["manager"], done.id, 2, second)
        assert again.status_code == 409
        assert again.json()["code"] == "payment_file_line_not_unmatched"
        actions = (
            await session.scalars(
                select(col(AuditEvent.action)).where(col(AuditEvent.entity_id) == str(done.id))
            )
        ).all()
        assert "payment_file_line.applied_by_hand" in actions
        assert (await ledger.verify(session, second.id)).ok

    async def test_partners_are_isolated_and_roles_checked(
        self, client, session, desk, issuer, make_user, auth_headers
    ):
        done = await self.sent(client, session, desk, issuer)
        # Partner A cannot apply its deposit to B's account (it cannot see it)...
        foreign = await apply(client, desk["system"], done.id, 2, desk["foreign"])
        assert_problem(foreign, 404, "not_found")
        # ... B cannot see A's statement nor apply its deposits ...
        other = desk["other_system"]
        assert (await client.get(f"/api/v1/spei-files/{done.id}", headers=other)).status_code == 404
        assert (await apply(client, other, done.id, 2, desk["foreign"])).status_code == 404
        unmatched = await client.get(f"/api/v1/spei-files/{done.id}/unmatched", headers=other)
        assert_problem(unmatched, 404, "not_found")
        # ... and staff may not move money to another partner's account (422).
        cross = await apply(client, desk["manager"], done.id, 2, desk["foreign"])
        assert_problem(cross, 422, "invalid_input")
        closed = await apply(client, desk["manager"], done.id, 2, desk["closed"])
        assert_problem(closed, 409, "account_not_active")
        # A collector applies only on an account assigned to them; an auditor never.
        collector = await make_user(Role.COLLECTOR)
        assert (
            await apply(client, auth_headers(collector), done.id, 2, desk["second"])
        ).status_code == 404
        assert (await apply(client, desk["auditor"], done.id, 2, desk["second"])).status_code == 403
        mine = await make_account(session, desk["partner"], dpd=40,
                                  assigned_collector_id=collector.id)  # fmt: skip
        await session.commit()
        applied = await apply(client, auth_headers(collector), done.id, 3, mine)
        assert applied.status_code == 200, applied.text
        assert (await fresh(session, desk["foreign"])).total == desk["foreign"].total


async def test_who_may_send_and_read(client, session, desk, issuer):
    body = csv_of([["1.00", DAY, clabe_of(issuer, desk["first"]), "W1", "", ""]])
    assert (await send(client, desk, body, who="other_system")).status_code == 404
    assert (await send(client, desk, body, who="collector")).status_code == 403
    assert (await send(client, desk, body, who="auditor")).status_code == 403
    sent = await send(client, desk, body, who="admin")
    assert sent.status_code == 202, sent.text
    url = sent.headers["Location"]
    assert (await client.get(url, headers=desk["system"])).status_code == 200
    assert (await client.get(url, headers=desk["auditor"])).status_code == 200
    assert (await client.get(url, headers=desk["other_system"])).status_code == 404
    # A statement is not a payment file, nor the other way round.
    file_id = sent.json()["id"]
    assert (
        await client.get(f"/api/v1/payment-files/{file_id}", headers=desk["admin"])
    ).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"amount,date,tracking_key\n1.00,2026-01-01,K\n", "beneficiary_clabe"),
        (b"amount,date,beneficiary_clabe,tracking_key,iban\n", "column 5"),
        (b"amount,date,beneficiary_clabe\n1.00,2026-01-01,646180000000000173\n", "tracking_key"),
    ],
)
async def test_bad_csv_answers_problem_json_and_stores_nothing(client, session, desk, body, field):
    before = await session.scalar(select(func.count()).select_from(PaymentFile))
    response = await send(client, desk, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "unreadable_upload"
    assert field in {e["field"] for e in response.json()["errors"]}
    assert await session.scalar(select(func.count()).select_from(PaymentFile)) == before
    assert await session.scalar(select(func.count()).select_from(PaymentFileChunk)) == 0


async def test_not_utf8_and_non_mexican_partners_are_refused(client, session, desk, settings):
    latin = "amount,date,beneficiary_clabe,tracking_key,payer_name\n1,2026-01-01,1,K,Ñ\n"
    response = await send(client, desk, latin.encode("latin-1"))
    assert response.status_code == 422 and response.json()["code"] == "unreadable_upload"
    colombian = await make_partner(session, country="CO", currency="COP",
                                   time_zone="America/Bogota")  # fmt: skip
    await session.commit()
    refused = await send(client, desk, csv_of([]), who="admin", partner=colombian)
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_input"
    assert (
        await session.scalar(
            select(func.count())
            .select_from(PaymentFile)
            .where(col(PaymentFile.partner_id) == colombian.id)
        )
        == 0
    )


async def test_a_thousand_deposits_reconcile_to_the_cent(client, session, desk, issuer):
    """1,000 deposits over 40 accounts, some paying more than owed (credit), with 25 repeated
    tracking keys: what the statement says was applied is what the payments hold, what the
    ledger moved, and every account's balances are the sum of its entries."""
    partner = desk["partner"]
    accounts = [await make_account(session, partner, dpd=40) for _ in range(40)]
    await session.commit()
    rng = random.Random(19)
    lines: list[list[str]] = []
    expected = Decimal("0")
    for n in range(1_000):
        account = rng.choice(accounts)
        amount = Decimal(rng.randint(1, 9_999)) / 100
        lines.append([str(amount), DAY, clabe_of(issuer, account), f"TRK{n:08d}", "P", "B"])
        expected += amount
    for n in range(25):  # the bank repeats some transfers in its statement
        lines.append(list(lines[n * 7]))
    done = await run(session, await send(client, desk, csv_of(lines)))
    assert (done.received, done.matched_by_reference, done.duplicates) == (1_025, 1_000, 25)
    assert done.applied_amount == expected
    paid = await session.scalar(
        select(func.sum(Payment.amount)).where(col(Payment.payment_file_id) == done.id)
    )
    assert paid == expected
    # The ledger's payment entries: what left the debt plus what became credit.
    moved = await session.scalar(
        text(
            "SELECT sum(CASE WHEN component IN ('principal', 'interest', 'fees')"
            " THEN -amount_minor WHEN component = 'credit' THEN amount_minor ELSE 0 END)"
            " FROM ledger_entry WHERE kind = 'payment' AND payment_id IN"
            " (SELECT id FROM payment WHERE payment_file_id = :f)"
        ),
        {"f": done.id},
    )
    assert Decimal(moved) / 100 == expected
    verification = await ledger.verify(session)
    assert verification.ok, verification.first
    credited = [a for a in [await fresh(session, a) for a in accounts] if a.credit > 0]
    assert credited, "some accounts were paid beyond what they owed"
