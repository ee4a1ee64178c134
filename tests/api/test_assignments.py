"""Assignment pushes through the API: JSON, CSV and Excel, replays, rejections, recalls."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient, Response
from openpyxl import Workbook
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.domain.roles import Role
from app.domain.stages import DEFAULT_EDGES, BucketEdges, stage_for
from app.models.account import Account, AccountEvent
from app.models.assignment import Assignment, AssignmentChunk, AssignmentRejection
from app.models.audit import AuditEvent
from app.models.debtor import ContactPoint, Debtor, RelatedParty, national_id_index
from app.models.partner import Partner
from app.services import assignments as service
from app.services import uploads
from app.services.tabular_uploads import XLSX_MEDIA_TYPE
from tests.factories import assert_problem
from tests.helpers.assignments import (
    FLAT_HEADER,
    TODAY,
    accounts_of,
    add_partner,
    csv_bytes,
    flat_row,
    partner_headers,
    process,
    push_json,
    push_raw,
    row,
    valid_curp,
)


async def count(session: AsyncSession, model: Any, *where: Any) -> int:
    query = select(func.count()).select_from(model)
    for condition in where:
        query = query.where(condition)
    return int(await session.scalar(query) or 0)


async def events_of(session: AsyncSession, account: Account, kind: str) -> list[AccountEvent]:
    found = await session.scalars(
        select(AccountEvent)
        .where(col(AccountEvent.account_id) == account.id, col(AccountEvent.kind) == kind)
        .order_by(col(AccountEvent.seq))
    )
    return list(found)


# Flat rows (CSV and Excel)


@pytest.fixture
async def manager(make_user, auth_headers):
    user = await make_user(Role.MANAGER)
    return auth_headers(user)


class TestSmoke:
    async def test_json_push_creates_accounts(self, client, session, manager):
        partner = await add_partner(session)
        response = await push_json(
            client, manager, partner, [row("A-1", 1), row("A-2", 2, total="1")]
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "queued"
        done = await service.process_assignment(session, uuid.UUID(body["id"]))
        assert (done.status, done.received, done.created, done.rejected) == (
            "completed_with_errors",
            2,
            1,
            1,
        )
        account = (
            await session.scalars(select(Account).where(col(Account.partner_id) == partner.id))
        ).one()
        assert account.dpd == 45
        assert account.stage == stage_for(45).value
        read = await client.get(f"/api/v1/assignments/{body['id']}", headers=manager)
        assert read.json()["counts"]["created"] == 1
        rej = await client.get(f"/api/v1/assignments/{body['id']}/rejections", headers=manager)
        assert rej.json()["items"][0]["field"] == "total"

    async def test_a_json_push_stores_debtor_contacts_and_parties(self, client, session, manager):
        partner = await add_partner(session)
        await process(session, await push_json(client, manager, partner, [row("A-1", 1)]))
        account = (await accounts_of(session, partner))["A-1"]
        assert (account.total, account.past_due_amount) == (Decimal("1120.50"), Decimal("300.00"))
        assert account.status == "active"
        debtor = await session.get(Debtor, account.debtor_id)
        assert debtor is not None and debtor.national_id == valid_curp(1)
        contacts = list(
            await session.scalars(
                select(ContactPoint).where(col(ContactPoint.account_id) == account.id)
            )
        )
        mine = {(c.kind, c.value) for c in contacts if c.related_party_id is None}
        assert mine == {
            ("phone", "+525512345678"),
            ("email", "juan@example.mx"),
            ("address", "Av. Reforma 1"),
        }
        [address] = [c for c in contacts if c.kind == "address"]
        assert address.time_zone == "America/Hermosillo"
        parties = list(
            await session.scalars(
                select(RelatedParty).where(col(RelatedParty.account_id) == account.id)
            )
        )
        assert sorted((p.kind, p.full_name) for p in parties) == [
            ("guarantor", "Luis Gómez"),
            ("reference", "Ana Pérez"),
        ]
        [created] = await events_of(session, account, "created")
        assert created.after is not None and created.after["stage"] == "mid"


# ---------------------------------------------------------------------------------------
# Idempotency


class TestIdempotency:
    async def test_a_replay_returns_the_first_push_and_writes_nothing(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        rows = [row("R-1", 1), row("R-2", 2)]
        first = await push_json(client, manager, partner, rows, key="push-2026-01-31")
        await process(session, first)
        before = (
            await count(session, Assignment),
            await count(session, Account),
            await count(session, AccountEvent),
            await count(session, AssignmentChunk),
            await count(session, AuditEvent),
        )
        replay = await push_json(client, manager, partner, rows, key="push-2026-01-31")
        assert replay.status_code == 202
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json()["id"] == first.json()["id"]
        assert replay.json()["status"] == "completed"
        assert replay.json()["counts"]["created"] == 2
        after = (
            await count(session, Assignment),
            await count(session, Account),
            await count(session, AccountEvent),
            await count(session, AssignmentChunk),
            await count(session, AuditEvent),
        )
        assert after == before

    async def test_a_first_push_is_not_marked_as_a_replay(self, client, session, manager):
        partner = await add_partner(session)
        response = await push_json(client, manager, partner, [row("R-1", 1)])
        assert response.status_code == 202
        assert "Idempotent-Replayed" not in response.headers
        assert response.headers["Location"] == f"/api/v1/assignments/{response.json()['id']}"

    async def test_the_same_key_with_another_body_is_refused(self, client, session, manager):
        partner = await add_partner(session)
        await push_json(client, manager, partner, [row("R-1", 1)], key="k-1")
        assignments = await count(session, Assignment)
        other = await push_json(client, manager, partner, [row("R-1", 1, fees="1")], key="k-1")
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        assert await count(session, Assignment) == assignments

    async def test_the_same_key_for_another_partner_is_another_push(self, client, session, manager):
        partner, other = await add_partner(session), await add_partner(session)
        first = await push_json(client, manager, partner, [row("R-1", 1)], key="daily")
        second = await push_json(client, manager, other, [row("R-1", 1)], key="daily")
        assert first.status_code == second.status_code == 202
        assert first.json()["id"] != second.json()["id"]
        assert "Idempotent-Replayed" not in second.headers

    @pytest.mark.parametrize("key", [None, "", "has spaces", "x" * 201, "ñandú".encode()])
    async def test_a_missing_or_malformed_key_is_400(self, client, session, manager, key):
        partner = await add_partner(session)
        headers = dict(manager)
        if key is not None:
            headers["Idempotency-Key"] = key
        response = await client.post(
            f"/api/v1/partners/{partner.id}/assignments",
            json={"rows": [row("R-1", 1)]},
            headers=headers,
        )
        assert response.status_code == 400
        assert response.json()["code"] == "idempotency_key_required"
        assert await count(session, Assignment, col(Assignment.partner_id) == partner.id) == 0


# ---------------------------------------------------------------------------------------
# Merging pushes into accounts and debtors


class TestMerge:
    async def test_one_debtor_across_partners_with_an_account_at_each(
        self, client, session, manager
    ):
        first, second = await add_partner(session), await add_partner(session)
        await process(session, await push_json(client, manager, first, [row("TC-1", 7)]))
        renamed = row("TC-1", 7)
        renamed["debtor"] = {**renamed["debtor"], "first_names": "Juan Carlos"}
        await process(session, await push_json(client, manager, second, [renamed]))
        at_first = (await accounts_of(session, first))["TC-1"]
        at_second = (await accounts_of(session, second))["TC-1"]
        assert at_first.id != at_second.id
        assert at_first.debtor_id == at_second.debtor_id
        assert (
            await count(
                session, Debtor, col(Debtor.national_id_index) == national_id_index(valid_curp(7))
            )
            == 1
        )
        # Each partner's contact points stay with its own account.
        for account, partner in ((at_first, first), (at_second, second)):
            owners = set(
                await session.scalars(
                    select(col(ContactPoint.partner_id)).where(
                        col(ContactPoint.account_id) == account.id
                    )
                )
            )
            assert owners == {partner.id}

    async def test_the_same_rows_again_change_nothing(self, client, session, manager):
        partner = await add_partner(session)
        rows = [row(f"S-{i}", i) for i in range(5)]
        await process(session, await push_json(client, manager, partner, rows))
        versions = {ref: a.version for ref, a in (await accounts_of(session, partner)).items()}
        counts = (
            await count(session, Account),
            await count(session, Debtor),
            await count(session, AccountEvent),
            await count(session, ContactPoint),
            await count(session, RelatedParty),
        )
        again = await process(session, await push_json(client, manager, partner, rows))
        assert (again.status, again.received, again.created, again.updated, again.unchanged) == (
            "completed",
            5,
            0,
            0,
            5,
        )
        assert {
            ref: a.version for ref, a in (await accounts_of(session, partner)).items()
        } == versions
        assert (
            await count(session, Account),
            await count(session, Debtor),
            await count(session, AccountEvent),
            await count(session, ContactPoint),
            await count(session, RelatedParty),
        ) == counts

    async def test_changed_balances_update_the_account_and_its_history(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        await process(session, await push_json(client, manager, partner, [row("B-1", 1)]))
        before = (await accounts_of(session, partner))["B-1"]
        version = before.version
        changed = row("B-1", 1, interest="150.00", total="1150.00", past_due_amount="400.00")
        done = await process(session, await push_json(client, manager, partner, [changed]))
        assert (done.created, done.updated, done.unchanged) == (0, 1, 0)
        account = (await accounts_of(session, partner))["B-1"]
        assert (account.interest, account.total, account.past_due_amount) == (
            Decimal("150.00"),
            Decimal("1150.00"),
            Decimal("400.00"),
        )
        assert account.version == version + 1
        assert account.last_assignment_id == done.id
        [event] = await events_of(session, account, "balance_changed")
        assert event.before is not None and event.after is not None
        assert (event.before["total"], event.after["total"]) == ("1120.50", "1150.00")
        assert (event.before["interest"], event.after["interest"]) == ("120.50", "150.00")
        assert event.actor_id == f"assignment:{done.id}"
        assert event.as_of == TODAY
        # The due date did not move: the stage did not either.
        assert await events_of(session, account, "stage_changed") == []
        assert account.stage == "mid"

    async def test_a_moved_due_date_moves_the_stage_at_once(self, client, session, manager):
        partner = await add_partner(session)
        await process(session, await push_json(client, manager, partner, [row("D-1", 1)]))
        assert (await accounts_of(session, partner))["D-1"].stage == "mid"
        overdue = (TODAY - timedelta(days=95)).isoformat()
        await process(
            session,
            await push_json(
                client, manager, partner, [row("D-1", 1, oldest_unpaid_due_date=overdue)]
            ),
        )
        account = (await accounts_of(session, partner))["D-1"]
        assert (account.dpd, account.stage) == (95, stage_for(95).value)
        assert account.stage == "nonaccrual"
        assert account.aged_as_of == TODAY
        [event] = await events_of(session, account, "stage_changed")
        assert event.before == {"stage": "mid", "dpd": 45}
        assert event.after == {"stage": "nonaccrual", "dpd": 95}
        assert event.as_of == TODAY
        [balance] = await events_of(session, account, "balance_changed")
        assert balance.after is not None and balance.after["oldest_unpaid_due_date"] == overdue

    async def test_a_caught_up_account_becomes_current(self, client, session, manager):
        partner = await add_partner(session)
        await process(session, await push_json(client, manager, partner, [row("C-1", 1)]))
        paid = row("C-1", 1, oldest_unpaid_due_date=None, past_due_amount="0")
        await process(session, await push_json(client, manager, partner, [paid]))
        account = (await accounts_of(session, partner))["C-1"]
        assert (account.dpd, account.stage) == (0, "current")
        [event] = await events_of(session, account, "stage_changed")
        assert event.after == {"stage": "current", "dpd": 0}

    async def test_partner_bucket_edges_decide_the_stage(self, client, session, manager):
        partner = await add_partner(
            session,
            bucket_table={
                "single_payment": {
                    "early": 1,
                    "mid": 10,
                    "late": 20,
                    "nonaccrual": 30,
                    "chargeoff": 40,
                }
            },
        )
        rows = [
            row("SP-1", 1, product_type="single_payment"),
            row("RV-1", 2, product_type="revolving"),
        ]
        await process(session, await push_json(client, manager, partner, rows))
        accounts = await accounts_of(session, partner)
        assert accounts["SP-1"].stage == "chargeoff"  # 45 DPD, past the 40-day edge
        assert accounts["RV-1"].stage == stage_for(45, DEFAULT_EDGES).value == "mid"

    async def test_intake_stage_agrees_with_python_at_every_edge(self, client, session, manager):
        edges = BucketEdges(3, 10, 20, 45, 90)
        partner = await add_partner(session, bucket_table={"single_payment": edges.as_dict()})
        cases = sorted({0, 1, 200} | {e + d for e in edges.as_tuple() for d in (-1, 0, 1)})
        rows = [
            row(
                f"E-{dpd}",
                dpd,
                product_type="single_payment",
                oldest_unpaid_due_date=(TODAY - timedelta(days=dpd)).isoformat(),
            )
            for dpd in cases
        ]
        done = await process(session, await push_json(client, manager, partner, rows))
        assert done.created == len(cases)
        accounts = await accounts_of(session, partner)
        for dpd in cases:
            account = accounts[f"E-{dpd}"]
            assert (account.dpd, account.stage) == (dpd, stage_for(dpd, edges).value), dpd

    async def test_contacts_added_by_staff_survive_a_partner_update(self, client, session, manager):
        partner = await add_partner(session)
        await process(session, await push_json(client, manager, partner, [row("K-1", 1)]))
        account = (await accounts_of(session, partner))["K-1"]
        session.add(
            ContactPoint(
                partner_id=partner.id,
                account_id=account.id,
                debtor_id=account.debtor_id,
                kind="phone",
                value="+528111111111",
                position=9,
                source="collector",
            )
        )
        await session.flush()
        changed = row("K-1", 1, fees="1.00", total="1121.50")
        changed["debtor"] = {**changed["debtor"], "phones": ["81 8765 4321"]}
        done = await process(session, await push_json(client, manager, partner, [changed]))
        assert done.updated == 1
        phones = set(
            await session.scalars(
                select(col(ContactPoint.value)).where(
                    col(ContactPoint.account_id) == account.id,
                    col(ContactPoint.kind) == "phone",
                    col(ContactPoint.related_party_id).is_(None),
                )
            )
        )
        assert phones == {"+528187654321", "+528111111111"}

    async def test_contacts_are_replaced_when_the_partner_sends_new_ones(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        await process(session, await push_json(client, manager, partner, [row("P-1", 1)]))
        changed = row("P-1", 1)
        changed["debtor"] = {**changed["debtor"], "phones": ["81 8765 4321"], "emails": []}
        changed["references"] = []
        await process(session, await push_json(client, manager, partner, [changed]))
        account = (await accounts_of(session, partner))["P-1"]
        values = set(
            await session.scalars(
                select(col(ContactPoint.value)).where(
                    col(ContactPoint.account_id) == account.id,
                    col(ContactPoint.related_party_id).is_(None),
                )
            )
        )
        assert values == {"+528187654321", "Av. Reforma 1"}
        kinds = set(
            await session.scalars(
                select(col(RelatedParty.kind)).where(col(RelatedParty.account_id) == account.id)
            )
        )
        assert kinds == {"guarantor"}

    async def test_good_rows_are_kept_and_bad_rows_reported_by_number(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        rows = [
            row("M-1", 1),
            row("M-2", 2, currency="USD"),
            row("M-3", 3),
            "not a row",
            row("M-5", 5, principal="-5", oldest_unpaid_due_date="2999-01-01"),
            row("M-6", 6),
        ]
        done = await process(session, await push_json(client, manager, partner, rows))
        assert (done.status, done.received, done.created, done.rejected) == (
            "completed_with_errors",
            6,
            3,
            3,
        )
        assert set(await accounts_of(session, partner)) == {"M-1", "M-3", "M-6"}
        listed = await client.get(f"/api/v1/assignments/{done.id}/rejections", headers=manager)
        assert listed.status_code == 200
        items = [(i["row_number"], i["external_ref"], i["field"]) for i in listed.json()["items"]]
        assert items == [
            (2, "M-2", "currency"),
            (4, None, "row"),
            (5, "M-5", "principal"),
            (5, "M-5", "oldest_unpaid_due_date"),
        ]
        read = (await client.get(f"/api/v1/assignments/{done.id}", headers=manager)).json()
        assert read["status"] == "completed_with_errors"
        assert read["counts"] == {
            "received": 6,
            "created": 3,
            "updated": 0,
            "unchanged": 0,
            "rejected": 3,
        }

    async def test_a_ref_repeated_in_one_push_is_rejected_after_its_first_row(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        rows = [row("DUP-1", 1), row("OK-1", 2), row("DUP-1", 3, fees="5", total="1125.50")]
        done = await process(session, await push_json(client, manager, partner, rows))
        assert (done.received, done.created, done.rejected) == (3, 2, 1)
        account = (await accounts_of(session, partner))["DUP-1"]
        assert account.fees == Decimal("0.00")  # the first row's values
        rejection = (
            await session.scalars(
                select(AssignmentRejection).where(col(AssignmentRejection.assignment_id) == done.id)
            )
        ).one()
        assert (rejection.row_number, rejection.external_ref, rejection.field) == (
            3,
            "DUP-1",
            "external_ref",
        )
        assert "appears more than once" in rejection.message
        assert "row 1" in rejection.message

    # 2: batches validated by the pool of worker processes; 0: in a thread of this process.
    @pytest.mark.parametrize("workers", [2, 0])
    async def test_small_batches_give_the_same_result_as_one(
        self, client, session, manager, workers
    ):
        partner = await add_partner(session)
        rows = [
            row("BT-1", 1),
            row("BT-2", 2, currency="USD", total="1", past_due_amount="0"),
            row("BT-3", 3),
            row("BT-1", 4),  # a repeat, three batches after its first row
            row("BT-5", 5),
            row("BT-6", 6, product_type="lease"),
            row("BT-7", 7),
        ]
        response = await push_json(client, manager, partner, rows)
        done = await service.process_assignment(
            session, uuid.UUID(response.json()["id"]), batch_rows=1, workers=workers
        )
        assert (done.received, done.created, done.rejected) == (7, 4, 3)
        assert set(await accounts_of(session, partner)) == {"BT-1", "BT-3", "BT-5", "BT-7"}
        listed = await session.scalars(
            select(AssignmentRejection)
            .where(col(AssignmentRejection.assignment_id) == done.id)
            .order_by(col(AssignmentRejection.row_number), col(AssignmentRejection.seq))
        )
        assert [(r.row_number, r.seq, r.field) for r in listed] == [
            (2, 0, "currency"),
            (2, 1, "total"),
            (4, 0, "external_ref"),
            (6, 0, "product_type"),
        ]

    async def test_a_ref_repeated_within_one_batch_of_the_pool_keeps_its_first_row(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        rows = [row("PD-1", 1), row("PD-1", 2, fees="5", total="1125.50"), row("PD-3", 3)]
        response = await push_json(client, manager, partner, rows)
        done = await service.process_assignment(
            session, uuid.UUID(response.json()["id"]), workers=2
        )
        assert (done.received, done.created, done.rejected) == (3, 2, 1)
        accounts = await accounts_of(session, partner)
        assert accounts["PD-1"].fees == Decimal("0.00")
        # The refused row left nothing behind: one set of contact points per account.
        # (each row: a phone, an email and an address, the reference's and the guarantor's phone)
        assert await count(session, ContactPoint, col(ContactPoint.partner_id) == partner.id) == 10
        rejection = (
            await session.scalars(
                select(AssignmentRejection).where(col(AssignmentRejection.assignment_id) == done.id)
            )
        ).one()
        assert (rejection.row_number, rejection.field) == (2, "external_ref")
        assert "row 1" in rejection.message

    async def test_text_with_backslashes_and_accents_arrives_as_sent(
        self, client, session, manager
    ):
        """Workers hand rows over in COPY's text format, where a backslash is an escape."""
        partner = await add_partner(session)
        sent = row(
            "ES\\1",
            1,
            debtor={
                **row("x", 1)["debtor"],
                "first_names": "José \\N Ñuño",
                "last_names": "D'Ávila \\t",
                "addresses": [{"line": "Calle 5 \\ 3", "state": "Sonora"}],
            },
            references=[{"full_name": "Ana \\x00", "relationship": "tía\\", "phones": []}],
            guarantors=[],
        )
        done = await service.process_assignment(
            session,
            uuid.UUID((await push_json(client, manager, partner, [sent])).json()["id"]),
            workers=2,
        )
        assert (done.created, done.rejected) == (1, 0)
        account = (await accounts_of(session, partner))["ES\\1"]
        assert (account.debtor_first_names, account.debtor_last_names) == (
            "José \\N Ñuño",
            "D'Ávila \\t",
        )
        party = (
            await session.scalars(
                select(RelatedParty).where(col(RelatedParty.account_id) == account.id)
            )
        ).one()
        assert (party.full_name, party.relationship) == ("Ana \\x00", "tía\\")
        address = (
            await session.scalars(
                select(ContactPoint).where(
                    col(ContactPoint.account_id) == account.id, col(ContactPoint.kind) == "address"
                )
            )
        ).one()
        assert address.value == "Calle 5 \\ 3"

    async def test_a_push_of_bad_rows_only_creates_nothing(self, client, session, manager):
        partner = await add_partner(session)
        done = await process(
            session, await push_json(client, manager, partner, [row("X-1", 1, total="9")])
        )
        assert (done.status, done.created, done.rejected) == ("completed_with_errors", 0, 1)
        assert await accounts_of(session, partner) == {}

    async def test_an_empty_push_completes_with_nothing(self, client, session, manager):
        partner = await add_partner(session)
        done = await process(session, await push_json(client, manager, partner, []))
        assert (done.status, done.received, done.created) == ("completed", 0, 0)

    async def test_processing_leaves_no_stored_upload_behind(self, client, session, manager):
        partner = await add_partner(session)
        response = await push_json(client, manager, partner, [row("U-1", 1)])
        assignment_id = uuid.UUID(response.json()["id"])
        where = col(AssignmentChunk.assignment_id) == assignment_id
        assert await count(session, AssignmentChunk, where) == 1
        await process(session, response)
        assert await count(session, AssignmentChunk, where) == 0


# ---------------------------------------------------------------------------------------
# Upload formats


class TestFormats:
    async def test_csv_as_the_raw_body(self, client, session, manager):
        partner = await add_partner(session)
        body = csv_bytes(
            [flat_row("CSV-1", 1), flat_row("CSV-2", 2, total="1", past_due_amount="0")]
        )
        response = await push_raw(client, manager, partner, body, "text/csv; charset=utf-8")
        assert response.json()["source_format"] == "csv"
        assert response.json()["body_bytes"] == len(body)
        done = await process(session, response)
        assert (done.created, done.rejected) == (1, 1)
        account = (await accounts_of(session, partner))["CSV-1"]
        assert account.product_type == "installment"
        assert (account.fees, account.total) == (Decimal("15.25"), Decimal("1135.75"))
        assert (account.dpd, account.stage) == (70, "late")
        assert account.last_payment_amount == Decimal("250.00")
        phones = set(
            await session.scalars(
                select(col(ContactPoint.value)).where(
                    col(ContactPoint.account_id) == account.id,
                    col(ContactPoint.kind) == "phone",
                    col(ContactPoint.related_party_id).is_(None),
                )
            )
        )
        assert phones == {"+525512345678", "+523312345678"}
        debtor = await session.get(Debtor, account.debtor_id)
        assert debtor is not None and debtor.last_names == "Peña Núñez"
        rejected = (
            await client.get(f"/api/v1/assignments/{done.id}/rejections", headers=manager)
        ).json()["items"]
        # The header is row 1, so the second data row is row 3.
        assert [(r["row_number"], r["field"]) for r in rejected] == [(3, "total")]

    async def test_csv_saved_by_excel_with_a_bom_and_blank_lines(self, client, session, manager):
        partner = await add_partner(session)
        text = (
            csv_bytes([flat_row("BOM-1", 1)]).decode()
            + "\r\n"
            + (csv_bytes([flat_row("BOM-2", 2, currency="EUR")]).decode().split("\r\n", 1)[1])
        )
        body = "\ufeff".encode() + text.encode()
        done = await process(session, await push_raw(client, manager, partner, body, "text/csv"))
        assert (done.created, done.rejected) == (1, 1)
        [rejection] = (
            await client.get(f"/api/v1/assignments/{done.id}/rejections", headers=manager)
        ).json()["items"]
        # Row 3 is the blank line; the spreadsheet shows the bad row as row 4.
        assert (rejection["row_number"], rejection["field"]) == (4, "currency")

    async def test_csv_as_a_multipart_file(self, client, session, manager):
        partner = await add_partner(session)
        body = csv_bytes([flat_row("MP-1", 1), flat_row("MP-2", 2)])
        response = await client.post(
            f"/api/v1/partners/{partner.id}/assignments",
            files={"file": ("cartera.csv", body, "text/csv")},
            headers={**manager, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 202, response.text
        assert response.json()["source_format"] == "csv"
        done = await process(session, response)
        assert (done.status, done.created) == ("completed", 2)
        assert set(await accounts_of(session, partner)) == {"MP-1", "MP-2"}

    async def test_a_multipart_file_known_by_its_name_only(self, client, session, manager):
        partner = await add_partner(session)
        body = csv_bytes([flat_row("MP-1", 1)])
        response = await client.post(
            f"/api/v1/partners/{partner.id}/assignments",
            files={"file": ("cartera.CSV", body, "application/octet-stream")},
            headers={**manager, "Idempotency-Key": uuid.uuid4().hex},
        )
        done = await process(session, response)
        assert done.created == 1

    async def test_a_multipart_form_without_the_file_part(self, client, session, manager):
        partner = await add_partner(session)
        response = await client.post(
            f"/api/v1/partners/{partner.id}/assignments",
            files={"upload": ("cartera.csv", b"x", "text/csv")},
            headers={**manager, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert_problem(response, 422, "invalid_input")
        assert response.json()["errors"][0]["field"] == "body.file"

    async def test_latin1_csv_is_refused_when_pushed_and_nothing_is_stored(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        body = csv_bytes([flat_row("L-1", 1)]).decode("utf-8").encode("latin-1")
        assert "Peña".encode("latin-1") in body
        before = (await count(session, Assignment), await count(session, AssignmentChunk))
        response = await push_raw(client, manager, partner, body, "text/csv")
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "unreadable_upload"
        assert "UTF-8" in problem["detail"]
        assert (await count(session, Assignment), await count(session, AssignmentChunk)) == before
        assert (
            await count(session, AuditEvent, col(AuditEvent.action) == "assignment.submitted") == 0
        )
        assert await accounts_of(session, partner) == {}

    async def test_latin1_in_a_multipart_file_is_refused_too(self, client, session, manager):
        partner = await add_partner(session)
        body = csv_bytes([flat_row("L-1", 1)]).decode("utf-8").encode("latin-1")
        response = await client.post(
            f"/api/v1/partners/{partner.id}/assignments",
            files={"file": ("cartera.csv", body, "text/csv")},
            headers={**manager, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 422
        assert response.json()["code"] == "unreadable_upload"
        assert await count(session, Assignment, col(Assignment.partner_id) == partner.id) == 0

    async def test_a_wrong_csv_header_is_refused_listing_the_columns(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        header = [c for c in FLAT_HEADER if c != "total"] + ["nickname", "principal"]
        body = csv_bytes([flat_row("H-1", 1)], header=header)
        response = await push_raw(client, manager, partner, body, "text/csv")
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "unreadable_upload"
        errors = {e["field"]: e["message"] for e in problem["errors"]}
        assert "nickname" in errors[f"column {len(header) - 1}"]
        assert "twice" in errors[f"column {len(header)}"]
        assert "missing" in errors["total"]
        assert await count(session, Assignment, col(Assignment.partner_id) == partner.id) == 0

    async def test_an_empty_upload_is_refused(self, client, session, manager):
        partner = await add_partner(session)
        response = await push_raw(client, manager, partner, b"", "text/csv")
        assert response.status_code == 422
        assert response.json()["code"] == "unreadable_upload"

    @pytest.mark.parametrize(
        "body", [b"{not json", b"[1, 2]", b'{"rows": "none"}', b"\xff\xfe{}"], ids=str
    )
    async def test_json_that_is_not_a_push_is_refused(self, client, session, manager, body):
        partner = await add_partner(session)
        response = await push_raw(client, manager, partner, body, "application/json")
        assert response.status_code == 422
        assert response.json()["code"] == "unreadable_upload"
        assert await count(session, Assignment, col(Assignment.partner_id) == partner.id) == 0

    async def test_a_file_that_is_not_a_workbook_is_refused(self, client, session, manager):
        partner = await add_partner(session)
        response = await push_raw(client, manager, partner, b"external_ref\n1\n", XLSX_MEDIA_TYPE)
        assert response.status_code == 422
        assert response.json()["code"] == "unreadable_upload"

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/xml", "application/vnd.ms-excel"]
    )
    async def test_an_unsupported_content_type_is_415(self, client, session, manager, content_type):
        partner = await add_partner(session)
        response = await push_raw(client, manager, partner, b"a,b\n1,2\n", content_type)
        assert response.status_code == 415
        assert response.json()["code"] == "unsupported_media_type"
        assert await count(session, Assignment, col(Assignment.partner_id) == partner.id) == 0

    async def test_an_excel_workbook_gives_the_same_accounts_as_the_csv(
        self, client, session, manager
    ):
        rows = [
            flat_row("XL-1", 1),
            flat_row("XL-2", 2, fees="0", total="1120.50", debtor_emails=""),
            flat_row("XL-3", 3, currency="USD"),
        ]
        from_csv = await add_partner(session)
        csv_done = await process(
            session, await push_raw(client, manager, from_csv, csv_bytes(rows), "text/csv")
        )

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Cartera")
        sheet.append(FLAT_HEADER)
        for data in rows:
            cells: list[Any] = []
            for column in FLAT_HEADER:
                value = data.get(column)
                if value in (None, ""):
                    cells.append(None)
                elif column.endswith("_date"):
                    cells.append(date.fromisoformat(value))  # a real date cell
                elif column in ("principal", "interest", "fees", "total", "past_due_amount"):
                    cells.append(float(value))  # a number cell, as Excel keeps it
                else:
                    cells.append(value)
            sheet.append(cells)
        buffer = io.BytesIO()
        workbook.save(buffer)
        from_excel = await add_partner(session)
        response = await push_raw(client, manager, from_excel, buffer.getvalue(), XLSX_MEDIA_TYPE)
        assert response.json()["source_format"] == "xlsx"
        excel_done = await process(session, response)

        assert (
            (excel_done.status, excel_done.created, excel_done.rejected)
            == (
                csv_done.status,
                csv_done.created,
                csv_done.rejected,
            )
            == ("completed_with_errors", 2, 1)
        )
        by_csv, by_excel = (
            await accounts_of(session, from_csv),
            await accounts_of(session, from_excel),
        )
        assert set(by_csv) == set(by_excel) == {"XL-1", "XL-2"}
        for ref, account in by_csv.items():
            twin = by_excel[ref]
            assert twin.content_hash == account.content_hash
            assert twin.debtor_id == account.debtor_id
            assert (twin.total, twin.dpd, twin.stage, twin.oldest_unpaid_due_date) == (
                account.total,
                account.dpd,
                account.stage,
                account.oldest_unpaid_due_date,
            )
        rejections = (
            await client.get(f"/api/v1/assignments/{excel_done.id}/rejections", headers=manager)
        ).json()["items"]
        assert [(r["row_number"], r["field"]) for r in rejections] == [(4, "currency")]

    async def test_a_workbook_with_a_wrong_header_is_refused_listing_the_columns(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet()
        header = [c for c in FLAT_HEADER if c != "currency"] + ["apodo"]
        sheet.append(header)
        sheet.append(["x"] * len(header))
        buffer = io.BytesIO()
        workbook.save(buffer)
        before = (await count(session, Assignment), await count(session, AssignmentChunk))
        response = await push_raw(client, manager, partner, buffer.getvalue(), XLSX_MEDIA_TYPE)
        # Refused at once, as a CSV with a wrong header is: nothing stored or queued.
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == "unreadable_upload"
        assert "header" in problem["detail"]
        by_field = {e["field"]: e["message"] for e in problem["errors"]}
        assert "missing" in by_field["currency"]
        assert "apodo" in by_field[f"column {len(header)}"]
        assert (await count(session, Assignment), await count(session, AssignmentChunk)) == before
        assert await accounts_of(session, partner) == {}

    async def test_a_damaged_workbook_is_refused_at_upload(self, client, session, manager):
        partner = await add_partner(session)
        body = b"PK\x03\x04" + b"\x00" * 200
        response = await push_raw(client, manager, partner, body, XLSX_MEDIA_TYPE)
        assert_problem(response, 422, "unreadable_upload")
        assert "Excel" in response.json()["detail"]
        assert await count(session, Assignment, col(Assignment.partner_id) == partner.id) == 0

    async def test_a_csv_row_longer_than_the_header_is_rejected(self, client, session, manager):
        partner = await add_partner(session)
        text = csv_bytes([flat_row("W-1", 1), flat_row("W-2", 2)]).decode()
        header, first, second = text.strip().split("\r\n")
        body = "\r\n".join([header, first, second + ",surplus"]).encode()
        done = await process(session, await push_raw(client, manager, partner, body, "text/csv"))
        assert (done.created, done.rejected) == (1, 1)
        [rejection] = (
            await client.get(f"/api/v1/assignments/{done.id}/rejections", headers=manager)
        ).json()["items"]
        assert (rejection["row_number"], rejection["field"]) == (3, "row")

    async def test_a_semicolon_separated_csv_is_read_by_its_header(self, client, session, manager):
        """Semicolons separate the columns (Excel in Spanish saves CSV so): the header is
        read by them, so an unknown column is named, not the whole line."""
        partner = await add_partner(session)
        good = csv_bytes([flat_row("SC-1", 1)]).decode().replace(",", ";").encode()
        accepted = await push_raw(client, manager, partner, good, "text/csv")
        assert accepted.status_code == 202, accepted.text
        bad = good.replace(b"external_ref;", b"external_reff;", 1)
        response = await push_raw(client, manager, partner, bad, "text/csv")
        assert response.status_code == 422
        assert response.json()["code"] == "unreadable_upload"
        errors = {e["field"]: e["message"] for e in response.json()["errors"]}
        assert errors["column 1"] == "unknown column 'external_reff'"
        assert errors["external_ref"] == "required column is missing"

    async def test_a_replayed_multipart_upload_is_recognised(self, client, session, manager):
        partner = await add_partner(session)
        body = csv_bytes([flat_row("MR-1", 1)])
        responses = [
            await client.post(
                f"/api/v1/partners/{partner.id}/assignments",
                files={"file": ("cartera.csv", body, "text/csv")},
                headers={**manager, "Idempotency-Key": "same-file"},
            )
            for _ in range(2)
        ]
        assert [r.status_code for r in responses] == [202, 202]
        assert responses[0].json()["id"] == responses[1].json()["id"]
        assert responses[1].headers["Idempotent-Replayed"] == "true"
        assert await count(session, Assignment, col(Assignment.partner_id) == partner.id) == 1

    async def test_ten_thousand_rows_through_the_api(self, client, session, manager):
        partner = await add_partner(session)
        total_rows = 10_000
        body = csv_bytes([flat_row(f"BIG-{n:05d}", n) for n in range(total_rows)])
        assert len(body) > 2 * uploads.CHUNK_BYTES  # stored as several chunks

        async def pieces() -> AsyncIterator[bytes]:
            # Small pieces, so the accented names are cut mid-character now and then.
            for start in range(0, len(body), 65_537):
                yield body[start : start + 65_537]

        response = await push_raw(client, manager, partner, pieces(), "text/csv")
        assert response.status_code == 202, response.text
        assert response.json()["body_bytes"] == len(body)
        assignment_id = uuid.UUID(response.json()["id"])
        assert (
            await count(
                session, AssignmentChunk, col(AssignmentChunk.assignment_id) == assignment_id
            )
            >= 2
        )
        done = await process(session, response)
        assert (done.status, done.received, done.created, done.rejected) == (
            "completed",
            total_rows,
            total_rows,
            0,
        )
        read = (await client.get(f"/api/v1/assignments/{done.id}", headers=manager)).json()
        assert read["status"] == "completed"
        assert read["counts"]["created"] == total_rows
        assert await count(session, Account, col(Account.partner_id) == partner.id) == total_rows
        assert (
            await count(
                session,
                AccountEvent,
                col(AccountEvent.partner_id) == partner.id,
                col(AccountEvent.kind) == "created",
            )
            == total_rows
        )
        assert (
            await count(
                session,
                Debtor,
                col(Debtor.national_id_index).in_(
                    [national_id_index(valid_curp(n)) for n in range(total_rows)]
                ),
            )
            == total_rows
        )
        assert (
            await count(
                session,
                ContactPoint,
                col(ContactPoint.partner_id) == partner.id,
                col(ContactPoint.kind) == "phone",
            )
            == 4 * total_rows  # two of the debtor's, the reference's and the guarantor's
        )
        late = await count(
            session,
            Account,
            col(Account.partner_id) == partner.id,
            col(Account.stage) == "late",
            col(Account.dpd) == 70,
        )
        assert late == total_rows


# ---------------------------------------------------------------------------------------
# Rejected rows


class TestRejections:
    async def test_rejections_are_listed_a_page_at_a_time_in_row_order(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        rows = []
        expected = []
        for n in range(1, 12):
            if n % 3 == 0:
                rows.append(row(f"G-{n}", n))
            else:
                # Two problems each: two entries per row.
                rows.append(row(f"B-{n}", n, currency="USD", total="1", past_due_amount="0"))
                expected += [(n, "currency"), (n, "total")]
        done = await process(session, await push_json(client, manager, partner, rows))
        assert done.rejected == len(expected) // 2

        seen: list[tuple[int, str]] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = await client.get(
                f"/api/v1/assignments/{done.id}/rejections", params=params, headers=manager
            )
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["items"]) <= 3
            seen += [(i["row_number"], i["field"]) for i in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == expected
        assert pages == -(-len(expected) // 3)

    async def test_a_forged_cursor_is_refused(self, client, session, manager):
        partner = await add_partner(session)
        done = await process(session, await push_json(client, manager, partner, [row("X", 1)]))
        response = await client.get(
            f"/api/v1/assignments/{done.id}/rejections",
            params={"cursor": "not-a-cursor"},
            headers=manager,
        )
        assert_problem(response, 422, "invalid_input")

    async def test_rejections_csv_download_neutralises_formulas(self, client, session, manager):
        partner = await add_partner(session)
        formula = '=HYPERLINK("http://evil.example","x")'
        rows = [
            row("OK-1", 1),
            row(formula, 2, total="1", past_due_amount="0"),
            row("+SUM(A1)", 3, currency="USD"),
            row("plain-ref", 4, product_type="lease"),
        ]
        done = await process(session, await push_json(client, manager, partner, rows))
        response = await client.get(
            f"/api/v1/assignments/{done.id}/rejections.csv", headers=manager
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert f"rejections-{done.id}.csv" in response.headers["content-disposition"]
        lines = list(csv.reader(io.StringIO(response.text)))
        assert lines[0] == ["row_number", "external_ref", "field", "message"]
        assert [line[:3] for line in lines[1:]] == [
            ["2", "'" + formula, "total"],
            ["3", "'+SUM(A1)", "currency"],
            ["4", "plain-ref", "product_type"],
        ]
        assert all(line[3] for line in lines[1:])
        spanish = await client.get(
            f"/api/v1/assignments/{done.id}/rejections.csv",
            headers=manager | {"Accept-Language": "es-MX"},
        )
        by_field = {line[2]: line[3] for line in csv.reader(io.StringIO(spanish.text))}
        assert by_field["total"] == "debe ser igual a capital + intereses + comisiones"
        assert by_field["currency"].startswith("debe ser la moneda de la empresa convenida, ")
        listed = await client.get(
            f"/api/v1/assignments/{done.id}/rejections",
            headers=manager | {"Accept-Language": "pt-BR"},
        )
        messages = {r["field"]: r["message"] for r in listed.json()["items"]}
        assert messages["total"] == "deve ser igual a principal + juros + tarifas"
        assert messages["product_type"].startswith("deve ser um de ")

    async def test_a_push_without_rejections_downloads_just_the_header(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        done = await process(session, await push_json(client, manager, partner, [row("A", 1)]))
        response = await client.get(
            f"/api/v1/assignments/{done.id}/rejections.csv", headers=manager
        )
        assert response.text.strip() == "row_number,external_ref,field,message"


# ---------------------------------------------------------------------------------------
# Who may push and read


class TestAccess:
    async def test_a_partner_system_pushes_for_itself(self, client, session, settings):
        partner = await add_partner(session)
        headers = await partner_headers(session, settings, partner)
        response = await push_json(client, headers, partner, [row("PS-1", 1)])
        assert response.status_code == 202
        assert response.json()["submitted_by"].startswith("client:")
        done = await process(session, response)
        assert done.created == 1
        read = await client.get(f"/api/v1/assignments/{done.id}", headers=headers)
        assert read.status_code == 200

    async def test_a_partner_pushing_to_another_partner_gets_404(self, client, session, settings):
        mine, theirs = await add_partner(session), await add_partner(session)
        headers = await partner_headers(session, settings, mine)
        response = await push_json(client, headers, theirs, [row("PS-1", 1)])
        assert_problem(response, 404, "not_found")
        recall = await client.post(
            f"/api/v1/partners/{theirs.id}/recalls",
            json={"external_refs": ["PS-1"]},
            headers=headers,
        )
        assert_problem(recall, 404, "not_found")
        assert await count(session, Assignment, col(Assignment.partner_id) == theirs.id) == 0

    async def test_a_push_to_an_unknown_partner_is_404(self, client, manager):
        response = await client.post(
            f"/api/v1/partners/{uuid.uuid4()}/assignments",
            json={"rows": []},
            headers={**manager, "Idempotency-Key": "k"},
        )
        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize("role", [Role.COLLECTOR, Role.TEAM_LEAD, Role.AUDITOR])
    async def test_staff_who_do_not_manage_portfolios_get_403(
        self, client, session, make_user, auth_headers, role
    ):
        partner = await add_partner(session)
        headers = auth_headers(await make_user(role))
        response = await push_json(client, headers, partner, [row("C-1", 1)])
        assert_problem(response, 403, "permission_denied")
        recall = await client.post(
            f"/api/v1/partners/{partner.id}/recalls",
            json={"external_refs": ["C-1"]},
            headers=headers,
        )
        assert_problem(recall, 403, "permission_denied")

    async def test_a_collector_cannot_read_a_push(
        self, client, session, manager, make_user, auth_headers
    ):
        partner = await add_partner(session)
        response = await push_json(client, manager, partner, [row("C-1", 1)])
        collector = auth_headers(await make_user(Role.COLLECTOR))
        read = await client.get(f"/api/v1/assignments/{response.json()['id']}", headers=collector)
        assert_problem(read, 403, "permission_denied")

    async def test_a_partner_reading_another_partners_push_gets_404(
        self, client, session, settings, manager
    ):
        mine, theirs = await add_partner(session), await add_partner(session)
        pushed = await push_json(client, manager, theirs, [row("T-1", 1, total="1")])
        await process(session, pushed)
        headers = await partner_headers(session, settings, mine)
        assignment_id = pushed.json()["id"]
        for path in ("", "/rejections", "/rejections.csv"):
            response = await client.get(
                f"/api/v1/assignments/{assignment_id}{path}", headers=headers
            )
            assert_problem(response, 404, "not_found")
        own = await partner_headers(session, settings, theirs)
        assert (
            await client.get(f"/api/v1/assignments/{assignment_id}", headers=own)
        ).status_code == 200

    async def test_an_auditor_may_read_a_push(
        self, client, session, manager, make_user, auth_headers
    ):
        partner = await add_partner(session)
        response = await push_json(client, manager, partner, [row("A-1", 1)])
        auditor = auth_headers(await make_user(Role.AUDITOR))
        read = await client.get(f"/api/v1/assignments/{response.json()['id']}", headers=auditor)
        assert read.status_code == 200

    async def test_pushing_needs_a_token(self, client, session):
        partner = await add_partner(session)
        response = await push_json(client, {}, partner, [row("A-1", 1)])
        assert_problem(response, 401, "not_authenticated")


# ---------------------------------------------------------------------------------------
# Recalls


async def recall(
    client: AsyncClient, headers: dict[str, str], partner: Partner, refs: list[str], **more: Any
) -> Response:
    return await client.post(
        f"/api/v1/partners/{partner.id}/recalls",
        json={"external_refs": refs, **more},
        headers=headers,
    )


class TestRecall:
    async def test_recalled_accounts_leave_their_collector_and_keep_history(
        self, client, session, settings, make_user
    ):
        partner = await add_partner(session)
        headers = await partner_headers(session, settings, partner)
        await process(
            session,
            await push_json(client, headers, partner, [row(f"RC-{i}", i) for i in range(1, 4)]),
        )
        collector = await make_user(Role.COLLECTOR)
        await session.execute(
            update(Account)
            .where(col(Account.partner_id) == partner.id, col(Account.external_ref) == "RC-1")
            .values(assigned_collector_id=collector.id)
        )
        response = await recall(
            client, headers, partner, ["RC-1", "RC-2", "NOPE-9", "RC-1"], reason="pagado"
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "requested": 3,
            "recalled": 2,
            "already_inactive": [],
            "unknown": ["NOPE-9"],
        }
        accounts = await accounts_of(session, partner)
        assert {ref: a.status for ref, a in accounts.items()} == {
            "RC-1": "recalled",
            "RC-2": "recalled",
            "RC-3": "active",
        }
        assert accounts["RC-1"].assigned_collector_id is None
        [event] = await events_of(session, accounts["RC-1"], "status_changed")
        assert event.before is not None and event.after is not None
        assert event.before["status"] == "active"
        assert event.before["assigned_collector_id"] == str(collector.id)
        assert event.after == {"status": "recalled", "reason": "pagado"}
        assert event.actor_id.startswith("client:")
        # Its assignment to nobody, dated with the status change; none for RC-2 (no one had it).
        [unassigned] = await events_of(session, accounts["RC-1"], "assigned")
        assert unassigned.before == {
            "assigned_collector_id": str(collector.id),
            "assigned_team_id": None,
        }
        assert unassigned.after == {"assigned_collector_id": None, "assigned_team_id": None}
        assert (unassigned.as_of, unassigned.occurred_at) == (event.as_of, event.occurred_at)
        assert await events_of(session, accounts["RC-2"], "assigned") == []
        assert len(await events_of(session, accounts["RC-2"], "status_changed")) == 1
        assert await events_of(session, accounts["RC-3"], "status_changed") == []
        assert await events_of(session, accounts["RC-1"], "created")  # history stays
        audit = await session.scalar(
            select(AuditEvent)
            .where(
                col(AuditEvent.action) == "partner.recall",
                col(AuditEvent.entity_id) == str(partner.id),
            )
            .order_by(col(AuditEvent.seq).desc())
        )
        assert audit is not None and audit.after is not None
        assert (audit.after["recalled"], audit.after["unknown"]) == (2, 1)

    async def test_a_second_recall_lists_the_refs_as_already_inactive(
        self, client, session, manager
    ):
        partner = await add_partner(session)
        await process(session, await push_json(client, manager, partner, [row("RC-1", 1)]))
        assert (await recall(client, manager, partner, ["RC-1"])).json()["recalled"] == 1
        again = await recall(client, manager, partner, ["RC-1", "NOPE"])
        assert again.json() == {
            "requested": 2,
            "recalled": 0,
            "already_inactive": ["RC-1"],
            "unknown": ["NOPE"],
        }
        account = (await accounts_of(session, partner))["RC-1"]
        assert len(await events_of(session, account, "status_changed")) == 1

    async def test_refs_of_another_partner_are_unknown_to_this_one(self, client, session, manager):
        mine, theirs = await add_partner(session), await add_partner(session)
        await process(session, await push_json(client, manager, theirs, [row("RC-1", 1)]))
        response = await recall(client, manager, mine, ["RC-1"])
        assert response.json()["unknown"] == ["RC-1"]
        assert (await accounts_of(session, theirs))["RC-1"].status == "active"

    async def test_a_later_push_of_the_ref_reactivates_it(
        self, client, session, manager, make_user
    ):
        partner = await add_partner(session)
        await process(session, await push_json(client, manager, partner, [row("RC-1", 1)]))
        collector = await make_user(Role.COLLECTOR)
        await session.execute(
            update(Account)
            .where(col(Account.partner_id) == partner.id, col(Account.external_ref) == "RC-1")
            .values(assigned_collector_id=collector.id)
        )
        await recall(client, manager, partner, ["RC-1"])
        done = await process(session, await push_json(client, manager, partner, [row("RC-1", 1)]))
        assert (done.created, done.updated, done.unchanged) == (0, 1, 0)
        account = (await accounts_of(session, partner))["RC-1"]
        assert account.status == "active"
        assert account.last_assignment_id == done.id
        recalled, reactivated = await events_of(session, account, "status_changed")
        assert recalled.after is not None and recalled.after["status"] == "recalled"
        assert reactivated.before == {"status": "recalled"}
        assert reactivated.after == {"status": "active", "assignment_id": str(done.id)}
        # Same balances: nothing but the status changed. It comes back to nobody, as the
        # recall left it: the recall's is the only assignment change.
        assert await events_of(session, account, "balance_changed") == []
        assert account.assigned_collector_id is None
        [unassigned] = await events_of(session, account, "assigned")
        assert unassigned.after == {"assigned_collector_id": None, "assigned_team_id": None}

    @pytest.mark.parametrize(
        "body", [{"external_refs": []}, {"external_refs": [""]}, {}, {"external_refs": "RC-1"}]
    )
    async def test_a_malformed_recall_is_422(self, client, session, manager, body):
        partner = await add_partner(session)
        response = await client.post(
            f"/api/v1/partners/{partner.id}/recalls", json=body, headers=manager
        )
        assert_problem(response, 422, "validation_failed")
