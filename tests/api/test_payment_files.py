"""Partner payment files through the API: upload, the job, the reconciliation report (matched,
matched by reference, unmatched, duplicates, rejected), amounts, idempotency, access, and
what each applied line did to its account."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlmodel import col, func, select

from app.domain.payments import payment_reference
from app.domain.roles import Role
from app.models.account import Account
from app.models.audit import AuditEvent
from app.models.payment import Payment
from app.models.payment_file import PaymentFile, PaymentFileChunk, PaymentFileLine
from app.services import audit as audit_service
from app.services import ledger
from app.services import payment_files as service
from app.services.tabular_uploads import XLSX_MEDIA_TYPE
from tests.factories import (
    assert_problem,
    business_today,
    make_account,
    make_partner,
    make_team,
    partner_bearer,
)
from tests.helpers.payment_files import csv_of

TODAY = business_today()


@pytest.fixture
async def desk(session, settings, make_user, auth_headers):
    """A partner with two accounts 300 past due (1,150 owed each), a recalled one, its
    system, a second partner with an account, a manager, an auditor and a collector."""
    partner = await make_partner(session)
    other = await make_partner(session)
    first = await make_account(session, partner, dpd=40)
    second = await make_account(session, partner, dpd=40)
    recalled = await make_account(session, partner, dpd=40, status="recalled")
    foreign = await make_account(session, other, dpd=40)
    system = await partner_bearer(session, settings, partner)
    other_system = await partner_bearer(session, settings, other)
    await session.commit()
    return {
        "partner": partner,
        "first": first,
        "second": second,
        "recalled": recalled,
        "foreign": foreign,
        "system": system,
        "other_system": other_system,
        "manager": auth_headers(await make_user(Role.MANAGER)),
        "auditor": auth_headers(await make_user(Role.AUDITOR)),
        "collector": auth_headers(await make_user(Role.COLLECTOR)),
    }


def reference_of(account: Account) -> str:
    assert account.payment_serial is not None
    return payment_reference(account.payment_serial)


async def send(client, desk, body: bytes, *, who: str = "system", key: str | None = None,
               media_type: str = "text/csv", partner=None):  # fmt: skip
    partner = partner or desk["partner"]
    return await client.post(
        f"/api/v1/partners/{partner.id}/payment-files",
        content=body,
        headers={
            **desk[who],
            "Content-Type": media_type,
            "Idempotency-Key": key or uuid.uuid4().hex,
        },
    )


async def run(session, response) -> PaymentFile:
    assert response.status_code == 202, response.text
    done = await service.process_file(session, uuid.UUID(response.json()["id"]))
    await session.commit()
    return done


async def report(client, desk, file_id, who: str = "system", **params) -> list[dict]:
    response = await client.get(
        f"/api/v1/payment-files/{file_id}/lines", params=params, headers=desk[who]
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def fresh(session, account: Account) -> Account:
    return await session.get(Account, account.id, populate_existing=True)


async def test_a_file_is_reconciled_line_by_line(client, session, desk):
    first, second = desk["first"], desk["second"]
    earlier = await client.post(
        "/api/v1/payments",
        json={"account_id": str(second.id), "amount": "10.00", "currency": second.currency,
              "paid_on": TODAY.isoformat(), "channel": "spei", "payer_reference": "SPEI-OLD"},
        headers={**desk["system"], "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert earlier.status_code == 201, earlier.text
    bad_digits = reference_of(second)[:-1] + str((int(reference_of(second)[-1]) + 1) % 10)
    day = (TODAY - timedelta(days=1)).isoformat()
    body = csv_of([
        [first.external_ref, "", "100.00", day, "spei", "SPEI-1"],             # 2 matched
        ["", reference_of(second), "200.00", day, "cash_store", "OXXO-1"],     # 3 by reference
        ["NO-SUCH-REF", "", "50.00", day, "", "SPEI-2"],                        # 4 unmatched
        ["", bad_digits, "60.00", day, "", "SPEI-3"],                           # 5 unmatched
        [first.external_ref, "", "100.00", day, "spei", "SPEI-1"],             # 6 duplicate
        [second.external_ref, "", "10.00", day, "spei", "SPEI-OLD"],           # 7 duplicate
        [first.external_ref, "", "abc", day, "spei", "SPEI-4"],                # 8 rejected
        [first.external_ref, "", "20.00", "2999-01-01", "spei", "SPEI-5"],     # 9 rejected
        [desk["recalled"].external_ref, "", "30.00", day, "spei", "SPEI-6"],   # 10 unmatched
        [desk["foreign"].external_ref, "", "40.00", day, "spei", "SPEI-7"],    # 11 unmatched
        [first.external_ref, "", "50.00", day, "branch", "SPEI-8"],            # 12 matched
    ])  # fmt: skip
    response = await send(client, desk, body)
    assert response.json()["status"] == "queued"
    assert response.headers["Location"] == f"/api/v1/payment-files/{response.json()['id']}"
    done = await run(session, response)
    assert done.status == "completed_with_errors"

    read = await client.get(response.headers["Location"], headers=desk["system"])
    data = read.json()
    assert data["counts"] == {
        "received": 11, "matched": 2, "matched_by_reference": 1, "matched_by_hand": 0,
        "unmatched": 4, "duplicates": 2, "rejected": 2,
    }  # fmt: skip
    assert data["amounts"] == {"applied": "350.00", "unmatched": "180.00",
                               "currency": desk["partner"].currency}  # fmt: skip

    lines = await report(client, desk, data["id"])
    outcomes = {line["row_number"]: line["outcome"] for line in lines}
    assert outcomes == {
        2: "matched", 3: "matched_by_reference", 4: "unmatched", 5: "unmatched",
        6: "duplicate", 7: "duplicate", 8: "rejected", 9: "rejected", 10: "unmatched",
        11: "unmatched", 12: "matched",
    }  # fmt: skip
    by_row = {line["row_number"]: line for line in lines}
    assert by_row[3]["account_id"] == str(second.id)
    assert by_row[5]["detail"] == "the payment reference's check digits do not match"
    assert by_row[6]["detail"] == "the payer reference is also on line 2"
    assert by_row[7]["duplicate_of"] == earlier.json()["id"]
    assert "amount" in by_row[8]["detail"]
    assert "paid_on" in by_row[9]["detail"]
    assert by_row[10]["detail"] == "the account was recalled by the partner"
    # Another partner's account is not this partner's to pay, nor to see.
    assert by_row[11]["account_id"] is None
    # Each reader gets the report in their language, values and field names kept.
    spanish = {
        line["row_number"]: line["detail"]
        for line in await report(
            client, desk | {"es": desk["system"] | {"Accept-Language": "es"}}, data["id"], "es"
        )
    }
    assert spanish[6] == "la referencia del pagador también está en la línea 2"
    assert spanish[8].startswith("amount: ")
    assert spanish[10] == "la empresa convenida retiró la cuenta"
    csv_report = await client.get(
        f"/api/v1/payment-files/{data['id']}/report.csv",
        headers=desk["system"] | {"Accept-Language": "pt-BR"},
    )
    assert "a referência do pagador também está na linha 2" in csv_report.text
    assert "detail_text" not in csv_report.text.splitlines()[0]
    assert csv_report.headers["content-language"] == "pt-BR"

    # Both lines on the first account applied in order: 150 off its 1,150.
    account = await fresh(session, first)
    assert account.total == Decimal("1000.00")
    assert account.past_due_amount == Decimal("150.00")
    made = (
        await session.scalars(
            select(Payment).where(col(Payment.payment_file_id) == done.id).order_by(Payment.amount)
        )
    ).all()
    assert [(p.amount, p.channel, p.payer_reference) for p in made] == [
        (Decimal("50.00"), "branch", "SPEI-8"),
        (Decimal("100.00"), "spei", "SPEI-1"),
        (Decimal("200.00"), "cash_store", "OXXO-1"),
    ]
    assert {str(p.id) for p in made} == {by_row[n]["payment_id"] for n in (2, 3, 12)}
    assert all(p.recorded_by.startswith("client:") for p in made)
    assert (await fresh(session, desk["foreign"])).total == Decimal("1150.00")
    assert (await fresh(session, desk["recalled"])).total == Decimal("1150.00")
    # The chain stays whole with a batch of audit events.
    actions = (
        await session.scalars(
            select(col(AuditEvent.action)).where(
                col(AuditEvent.entity_id).in_([str(p.id) for p in made])
            )
        )
    ).all()
    assert sorted(actions) == ["payment.applied"] * 3
    checked, broken = await audit_service.verify_chain(await session.connection())
    assert broken is None
    assert checked > 3


async def test_filters_and_the_csv_report(client, session, desk):
    day = TODAY.isoformat()
    body = csv_of([
        [desk["first"].external_ref, "", "100.00", day, "", "R-1"],
        ["UNKNOWN", "", "75.50", day, "", "R-2"],
        ["", "", "10.00", day, "", "R-3"],
    ])  # fmt: skip
    done = await run(session, await send(client, desk, body))
    unmatched = await report(client, desk, done.id, outcome="unmatched")
    assert [(line["row_number"], line["amount"]) for line in unmatched] == [(3, "75.50")]
    page = await client.get(
        f"/api/v1/payment-files/{done.id}/lines", params={"limit": 1}, headers=desk["system"]
    )
    assert len(page.json()["items"]) == 1
    rest = await report(client, desk, done.id, cursor=page.json()["next_cursor"])
    assert [line["row_number"] for line in rest] == [3, 4]

    csv_report = await client.get(
        f"/api/v1/payment-files/{done.id}/report.csv", headers=desk["manager"]
    )
    assert csv_report.status_code == 200
    assert csv_report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_report.text)))
    assert [(r["row_number"], r["outcome"]) for r in rows] == [
        ("2", "matched"), ("3", "unmatched"), ("4", "rejected"),
    ]  # fmt: skip
    assert "external_ref" in rows[2]["detail"]


async def test_sending_the_same_file_again_applies_nothing_new(client, session, desk):
    body = csv_of([[desk["first"].external_ref, "", "100.00", TODAY.isoformat(), "", "T-1"]])
    first = await run(session, await send(client, desk, body))
    assert (first.matched, first.duplicates) == (1, 0)
    again = await run(session, await send(client, desk, body))
    assert (again.matched, again.duplicates, again.applied_amount) == (0, 1, Decimal("0"))
    assert (await fresh(session, desk["first"])).total == Decimal("1050.00")


async def test_idempotency_key_replays_and_refuses_another_body(client, session, desk):
    body = csv_of([[desk["first"].external_ref, "", "100.00", TODAY.isoformat(), "", "K-1"]])
    key = uuid.uuid4().hex
    sent = await send(client, desk, body, key=key)
    replay = await send(client, desk, body, key=key)
    assert replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == sent.json()["id"]
    other = await send(client, desk, body + b"X-2,,1.00,2026-01-01,,K-2\n", key=key)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    missing = await client.post(
        f"/api/v1/partners/{desk['partner'].id}/payment-files",
        content=body,
        headers={**desk["system"], "Content-Type": "text/csv"},
    )
    assert_problem(missing, 400, "idempotency_key_required")
    count = await session.scalar(
        select(func.count())
        .select_from(PaymentFile)
        .where(col(PaymentFile.partner_id) == desk["partner"].id)
    )
    assert count == 1


async def test_an_excel_workbook_is_read_like_csv(client, session, desk):
    book = Workbook()
    sheet = book.active
    sheet.append(["payment_reference", "amount", "paid_on", "payer_reference"])
    sheet.append([reference_of(desk["second"]), 125.5, TODAY.isoformat(), "XL-1"])
    buffer = io.BytesIO()
    book.save(buffer)
    done = await run(
        session, await send(client, desk, buffer.getvalue(), media_type=XLSX_MEDIA_TYPE)
    )
    assert (done.matched_by_reference, done.applied_amount) == (1, Decimal("125.50"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"external_ref,amount,paid_on\nA,1.00,2026-01-01\n", "payer_reference"),
        (b"amount,paid_on,payer_reference\n1.00,2026-01-01,X\n", "external_ref"),
        (b"external_ref,amount,paid_on,payer_reference,iban\n", "column 5"),
    ],
)
async def test_a_wrong_header_is_refused_at_once(client, session, desk, body, field):
    response = await send(client, desk, body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "unreadable_upload"
    assert field in {e["field"] for e in response.json()["errors"]}
    assert await session.scalar(select(func.count()).select_from(PaymentFileChunk)) == 0


async def test_a_workbook_with_a_wrong_header_is_refused_at_once(client, session, desk):
    book = Workbook()
    book.active.append(["payment_reference", "amount", "paid_on"])  # no payer_reference
    book.active.append(["X", 1.0, TODAY.isoformat()])
    buffer = io.BytesIO()
    book.save(buffer)
    response = await send(client, desk, buffer.getvalue(), media_type=XLSX_MEDIA_TYPE)
    assert_problem(response, 422, "unreadable_upload")
    assert "payer_reference" in {e["field"] for e in response.json()["errors"]}
    assert await session.scalar(select(func.count()).select_from(PaymentFileChunk)) == 0


async def test_json_and_unknown_media_types_are_415(client, desk):
    as_json = await send(client, desk, b'{"rows": []}', media_type="application/json")
    assert_problem(as_json, 415, "unsupported_media_type")
    as_text = await send(client, desk, b"hello", media_type="text/plain")
    assert as_text.status_code == 415


async def test_a_file_that_is_not_utf8_is_refused(client, desk):
    body = "external_ref,amount,paid_on,payer_reference\nÑ-1,1.00,2026-01-01,X\n".encode("latin-1")
    response = await send(client, desk, body)
    assert response.status_code == 422
    assert response.json()["code"] == "unreadable_upload"


async def test_who_may_send_and_read(client, session, desk):
    body = csv_of([[desk["first"].external_ref, "", "1.00", TODAY.isoformat(), "", "W-1"]])
    # Another partner's system cannot send for this partner, nor see its files.
    assert (await send(client, desk, body, who="other_system")).status_code == 404
    assert (await send(client, desk, body, who="collector")).status_code == 403
    assert (await send(client, desk, body, who="auditor")).status_code == 403
    sent = await send(client, desk, body, who="manager")
    assert sent.status_code == 202
    file_url = sent.headers["Location"]
    assert (await client.get(file_url, headers=desk["auditor"])).status_code == 200
    assert (await client.get(file_url, headers=desk["system"])).status_code == 200
    assert (await client.get(file_url, headers=desk["other_system"])).status_code == 404
    assert (await client.get(file_url, headers=desk["collector"])).status_code == 403
    lines = await client.get(f"{file_url}/lines", headers=desk["other_system"])
    assert_problem(lines, 404, "not_found")


async def test_bad_query_input_is_422(client, session, desk):
    body = csv_of([[desk["first"].external_ref, "", "1.00", TODAY.isoformat(), "", "Q-1"]])
    done = await run(session, await send(client, desk, body))
    url = f"/api/v1/payment-files/{done.id}/lines"
    assert (
        await client.get(url, params={"outcome": "lost"}, headers=desk["system"])
    ).status_code == 422
    assert (
        await client.get(url, params={"cursor": "!!"}, headers=desk["system"])
    ).status_code == 422


async def test_a_line_clearing_the_past_due_amount_makes_the_account_current(client, session, desk):
    """The same allocation rules as POST /payments."""
    body = csv_of([[desk["second"].external_ref, "", "400.00", TODAY.isoformat(), "", "P-1"]])
    done = await run(session, await send(client, desk, body))
    line = (
        await session.scalars(
            select(PaymentFileLine).where(col(PaymentFileLine.payment_file_id) == done.id)
        )
    ).one()
    payment = await session.get(Payment, line.payment_id)
    assert payment is not None
    assert payment.allocation["balance"]["past_due"] == "300.00"
    account = await fresh(session, desk["second"])
    assert (account.past_due_amount, account.dpd, account.stage) == (Decimal("0.00"), 0, "current")


async def apply_line(client, headers, file_id, row: int, account, note: str = "Found by phone"):
    return await client.post(
        f"/api/v1/payment-files/{file_id}/lines/{row}/apply",
        json={"account_id": str(account.id), "note": note},
        headers=headers,
    )


class TestApplyingAnUnmatchedLineByHand:
    async def sent(self, client, session, desk) -> PaymentFile:
        day = TODAY.isoformat()
        body = csv_of([
            [desk["first"].external_ref, "", "100.00", day, "spei", "H-1"],  # 2 matched
            ["TYPO-REF", "", "75.50", day, "cash_store", "H-2"],            # 3 unmatched
            ["OTHER-TYPO", "", "20.00", day, "", "H-3"],                    # 4 unmatched
        ])  # fmt: skip
        return await run(session, await send(client, desk, body))

    async def test_it_is_applied_once_as_the_job_applies_lines(self, client, session, desk):
        done = await self.sent(client, session, desk)
        second = desk["second"]
        response = await apply_line(client, desk["manager"], done.id, 3, second)
        assert response.status_code == 200, response.text
        line = response.json()
        assert (line["outcome"], line["account_id"], line["channel"]) == (
            "matched_by_hand", str(second.id), "cash_store",
        )  # fmt: skip
        payment = await session.get(Payment, uuid.UUID(line["payment_id"]))
        assert payment is not None
        assert (payment.amount, payment.channel, payment.payer_reference, payment.paid_on) == (
            Decimal("75.50"), "cash_store", "H-2", TODAY,
        )  # fmt: skip
        assert payment.payment_file_id == done.id
        # As any payment: the 300 past due first, then fees, interest and principal.
        assert payment.allocation["balance"]["past_due"] == "75.50"
        account = await fresh(session, second)
        assert (account.total, account.past_due_amount) == (Decimal("1074.50"), Decimal("224.50"))
        read = await client.get(f"/api/v1/payment-files/{done.id}", headers=desk["manager"])
        assert read.json()["counts"]["unmatched"] == 1
        assert read.json()["counts"]["matched_by_hand"] == 1
        assert read.json()["amounts"] == {
            "applied": "175.50", "unmatched": "20.00", "currency": desk["partner"].currency,
        }  # fmt: skip
        assert (await ledger.verify(session, second.id)).ok

        again = await apply_line(client, desk["manager"], done.id, 3, second)
        assert again.status_code == 409
        assert again.json()["code"] == "payment_file_line_not_unmatched"
        matched = await apply_line(client, desk["manager"], done.id, 2, second)
        assert matched.status_code == 409
        assert (await fresh(session, second)).total == Decimal("1074.50")
        actions = (
            await session.scalars(
                select(col(AuditEvent.action)).where(col(AuditEvent.entity_id) == str(done.id))
            )
        ).all()
        assert "payment_file_line.applied_by_hand" in actions

    async def test_only_the_files_partner_and_only_who_may(
        self, client, session, desk, make_user, auth_headers
    ):
        done = await self.sent(client, session, desk)
        foreign = await apply_line(client, desk["manager"], done.id, 3, desk["foreign"])
        assert_problem(foreign, 422, "invalid_input")
        recalled = await apply_line(client, desk["manager"], done.id, 3, desk["recalled"])
        assert_problem(recalled, 409, "account_not_active")
        for who in ("collector", "auditor", "system"):
            refused = await apply_line(client, desk[who], done.id, 3, desk["second"])
            assert_problem(refused, 403, "permission_denied")
        lead = auth_headers(await make_user(Role.TEAM_LEAD))
        unseen = await apply_line(client, lead, done.id, 3, desk["second"])
        assert_problem(unseen, 404, "not_found")
        missing = await apply_line(client, desk["manager"], done.id, 99, desk["second"])
        assert_problem(missing, 404, "not_found")
        line = (
            await session.scalars(
                select(PaymentFileLine)
                .where(col(PaymentFileLine.payment_file_id) == done.id)
                .where(col(PaymentFileLine.row_number) == 3)
                .execution_options(populate_existing=True)
            )
        ).one()
        assert (line.outcome, line.payment_id) == ("unmatched", None)
        assert (await fresh(session, desk["second"])).total == Decimal("1150.00")

    async def test_a_team_lead_applies_on_an_account_of_their_team(
        self, client, session, desk, make_user, auth_headers
    ):
        lead = await make_user(Role.TEAM_LEAD)
        team = await make_team(session, lead)
        second = await session.get(Account, desk["second"].id)
        assert second is not None
        second.assigned_team_id = team.id
        await session.commit()
        done = await self.sent(client, session, desk)
        response = await apply_line(client, auth_headers(lead), done.id, 4, second)
        assert response.status_code == 200, response.text
        payment = await session.get(Payment, uuid.UUID(response.json()["payment_id"]))
        assert payment is not None and payment.channel == "partner_report"
